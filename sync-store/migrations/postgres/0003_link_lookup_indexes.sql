-- The id-map look-ups (`links_by_issue`, `links_by_work_item`, `link_by_issue`, ...) filter on
-- one id and order by link id. With an index on the id alone the planner may instead walk the
-- primary key in link-id order and filter every row (it does on PostgreSQL when its statistics
-- predate a bulk load: 31 ms at 100,000 links). An index on (id, link_id) answers the filter
-- and the order in one range scan, whatever the statistics say.
CREATE INDEX link_view_issue_link ON link_view (issue_id, link_id);
CREATE INDEX link_view_work_item_link ON link_view (work_item_id, link_id);
DROP INDEX link_view_issue;
DROP INDEX link_view_work_item;

//! The conversion's tests, in one binary: ADF against Atlassian's schema and samples, wiki markup against a public corpus, and property tests of the round trips.

mod content_adf;
mod content_props;
mod content_wiki;

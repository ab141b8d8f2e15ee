use handoff_adapter::{
    encode_notification, signature_header, verify_notification, HostError, HostErrorClass,
    HostNotification, NotificationKind,
};

const SECRET: &[u8] = b"s3cret";

fn body() -> &'static [u8] {
    br#"{"event":"workitem.updated","itemId":"WI-1","projectId":"P1","version":4,"actor":"u-ana","atMs":1700000000000,"deliveryId":"d-1"}"#
}

#[test]
fn a_good_signature_gives_the_notification() -> Result<(), HostError> {
    let header = signature_header(SECRET, body())?;
    let n = verify_notification(SECRET, body(), Some(&header))?;
    assert_eq!(
        n,
        HostNotification {
            kind: NotificationKind::ItemUpdated,
            item_id: "WI-1".into(),
            project_id: "P1".into(),
            version: 4,
            actor: Some("u-ana".into()),
            at_ms: 1_700_000_000_000,
            comment_id: None,
            delivery_id: Some("d-1".into()),
        }
    );
    Ok(())
}

#[test]
fn a_known_vector_verifies() -> Result<(), HostError> {
    // The widely published HMAC-SHA256 example: what any host's HMAC library produces.
    let header = signature_header(b"key", b"The quick brown fox jumps over the lazy dog")?;
    assert_eq!(
        header,
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
    Ok(())
}

#[test]
fn signature_failures_are_told_apart() -> Result<(), HostError> {
    let good = signature_header(SECRET, body())?;
    let other_secret = signature_header(b"other", body())?;
    let mut tampered = body().to_vec();
    tampered[20] ^= 1;
    let cases: Vec<(Option<&str>, &[u8], &str)> = vec![
        (None, body(), "missing"),
        (Some(other_secret.as_str()), body(), "bad"),
        (Some(good.as_str()), &tampered, "bad"),
        (Some("sha256=zz"), body(), "bad"),
        (Some(good.trim_start_matches("sha256=")), body(), "bad"),
        (Some(""), body(), "bad"),
    ];
    for (header, raw, expected) in cases {
        let got = verify_notification(SECRET, raw, header);
        let ok = match expected {
            "missing" => matches!(got, Err(HostError::MissingSignature)),
            _ => matches!(got, Err(HostError::BadSignature)),
        };
        assert!(ok, "{header:?}: expected {expected}, got {got:?}");
        if let Err(e) = got {
            assert_eq!(e.class(), HostErrorClass::Auth);
        }
    }
    Ok(())
}

#[test]
fn malformed_bodies_are_told_apart() -> Result<(), HostError> {
    let cases: [(&[u8], Option<&str>); 5] = [
        (b"not json", None),
        (b"[1,2]", None),
        (
            br#"{"event":"workitem.updated","itemId":"WI-1","projectId":"P1","version":"four"}"#,
            None,
        ),
        (
            br#"{"event":"workitem.updated","projectId":"P1","version":4}"#,
            Some("itemId"),
        ),
        (
            br#"{"itemId":"WI-1","projectId":"P1","version":4}"#,
            Some("event"),
        ),
    ];
    for (raw, missing) in cases {
        let header = signature_header(SECRET, raw)?;
        let got = verify_notification(SECRET, raw, Some(&header));
        match missing {
            None => assert!(
                matches!(got, Err(HostError::MalformedNotification { .. })),
                "{raw:?}: {got:?}"
            ),
            Some(field) => assert!(
                matches!(got, Err(HostError::NotificationMissingField { field: f }) if f == field),
                "{raw:?}: {got:?}"
            ),
        }
    }
    Ok(())
}

#[test]
fn encoded_notifications_verify_and_unknown_events_are_kept() -> Result<(), HostError> {
    let n = HostNotification {
        kind: NotificationKind::Other("workitem.archived".into()),
        item_id: "WI-9".into(),
        project_id: "P1".into(),
        version: 2,
        actor: None,
        at_ms: 5,
        comment_id: Some("C-1".into()),
        delivery_id: None,
    };
    let raw = encode_notification(&n);
    let header = signature_header(SECRET, &raw)?;
    assert_eq!(verify_notification(SECRET, &raw, Some(&header))?, n);
    Ok(())
}

/// The inbox keeps the wire form; rows an earlier version kept in the notification's serde
/// form still read back.
#[test]
fn the_inbox_body_reads_back_in_both_forms() {
    let n = handoff_adapter::HostNotification {
        kind: handoff_adapter::NotificationKind::ItemUpdated,
        item_id: "WI-1".into(),
        project_id: "P".into(),
        version: 3,
        actor: Some("ana".into()),
        at_ms: 5,
        comment_id: None,
        delivery_id: Some("d-1".into()),
    };
    let body = handoff_adapter::inbox_body(&n);
    assert_eq!(
        handoff_adapter::parse_notification(body.as_bytes()).ok(),
        Some(n.clone())
    );
    assert_eq!(
        handoff_adapter::from_inbox_body(&body).ok(),
        Some(n.clone())
    );
    let legacy = serde_json::to_string(&n).expect("serde form");
    assert_ne!(legacy, body);
    assert_eq!(handoff_adapter::from_inbox_body(&legacy).ok(), Some(n));
    assert!(handoff_adapter::from_inbox_body("{}").is_err());
}

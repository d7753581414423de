//! Webhooks end to end: registered through the API, fanned out by the
//! worker, sent by the deliverer to receivers on 127.0.0.1 (allow-listed in
//! the test app, as in `make dev`) that fail in every way a receiver can.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use folio_local::receiver::{always, Answer, Receiver};
use folio_tests::{folio, TestApp};
use serde_json::json;

/// Registers `id` for every event; returns the secret shown once.
async fn register(t: &TestApp, id: &str, url: &str) -> String {
    let r = t
        .request(
            "PUT",
            &format!("/v2/webhooks/{id}/"),
            Some(json!({"url": url, "events": ["collectionitem.*"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["secret"]
        .as_str()
        .expect("the secret, once")
        .to_owned()
}

fn ids(r: &Receiver) -> Vec<String> {
    r.received()
        .iter()
        .map(|x| x.webhook_id().to_owned())
        .collect()
}

#[tokio::test]
async fn a_webhook_shows_its_secret_once_and_bad_registrations_are_400() {
    let t = TestApp::spawn().await;
    let r = t
        .request(
            "PUT",
            "/v2/webhooks/site-build/",
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["collectionitem.published", "collectionitem.published"], "collections": ["team_members"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(r.body["events"], json!(["collectionitem.published"]));
    assert_eq!(r.body["enabled"], json!(true));

    let got = t.request("GET", "/v2/webhooks/site-build/", None).await;
    assert_eq!(got.status, 200);
    assert!(got.body.get("secret").is_none(), "{:?}", got.body);
    assert!(
        !got.body.to_string().contains(&secret[6..]),
        "the secret is never shown again"
    );
    let stored = t
        .app
        .store
        .get_webhook(&t.org, &folio::ids::WebhookId::parse("site-build").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.secret.contains(&secret[6..]), "stored sealed");

    let changed = t
        .request(
            "PUT",
            "/v2/webhooks/site-build/",
            Some(json!({"url": "http://127.0.0.1:9/other", "events": ["collectionitem.*"], "enabled": false})),
        )
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    assert!(changed.body.get("secret").is_none());
    assert_eq!(changed.body["enabled"], json!(false));
    assert_eq!(changed.body["collections"], json!(null));

    let list = t.request("GET", "/v2/webhooks/", None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);

    for (body, field) in [
        (
            json!({"url": "file:///etc/passwd", "events": ["collectionitem.*"]}),
            "url",
        ),
        (
            json!({"url": "gopher://x/", "events": ["collectionitem.*"]}),
            "url",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": []}),
            "events",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["item.eaten"]}),
            "events",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["collectionitem.*"], "collections": ["Bad Key"]}),
            "collections",
        ),
    ] {
        let r = t
            .request("PUT", "/v2/webhooks/bad/", Some(body.clone()))
            .await;
        assert_eq!(r.status, 400, "{body}: {:?}", r.body);
        assert!(
            r.body["errors"].get(field).is_some(),
            "{body}: {:?}",
            r.body
        );
    }
    let r = t
        .request("PUT", "/v2/webhooks/bad/", Some(json!({"url": "http://127.0.0.1:9/", "events": ["collectionitem.*"], "secret": "mine"})))
        .await;
    assert_eq!(r.status, 400, "unknown fields are refused: {:?}", r.body);
    assert_eq!(
        t.request("GET", "/v2/webhooks/bad/", None).await.status,
        404,
        "nothing written"
    );
    assert_eq!(
        t.request("GET", "/v2/webhooks/Bad%23Id/", None)
            .await
            .status,
        404
    );

    // Another organization's admin sees nothing of it.
    let other = t.create_org(&[]).await;
    let token = t
        .mint(
            &other,
            &[folio::auth::Scope::Admin, folio::auth::Scope::Read],
        )
        .await;
    let r = t
        .request_as("GET", "/v2/webhooks/site-build/", None, Some(&token), &[])
        .await;
    assert_eq!(r.status, 404);
    // A write token is not an admin.
    let writer = t.mint(&t.org, &[folio::auth::Scope::Write]).await;
    let r = t
        .request_as("GET", "/v2/webhooks/", None, Some(&writer), &[])
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);

    assert_eq!(
        t.request("DELETE", "/v2/webhooks/site-build/", None)
            .await
            .status,
        204
    );
    assert_eq!(
        t.request("GET", "/v2/webhooks/site-build/", None)
            .await
            .status,
        404
    );
    assert_eq!(
        t.request("DELETE", "/v2/webhooks/site-build/", None)
            .await
            .status,
        404
    );

    // A test ping is logged; the endpoint created again under the same id
    // starts with an empty log.
    let receiver = Receiver::start(always(200)).await.unwrap();
    register(&t, "site-build", &receiver.url).await;
    let ping = t
        .request("POST", "/v2/webhooks/site-build/test/", None)
        .await;
    assert_eq!(ping.status, 200);
    let log = t
        .request("GET", "/v2/webhooks/site-build/deliveries/", None)
        .await;
    assert_eq!(log.body["data"].as_array().unwrap().len(), 1);
    let gone = t.request("DELETE", "/v2/webhooks/site-build/", None).await;
    assert_eq!(gone.status, 204);
    register(&t, "site-build", &receiver.url).await;
    let log = t
        .request("GET", "/v2/webhooks/site-build/deliveries/", None)
        .await;
    assert_eq!(log.body["data"], json!([]), "a new endpoint, a new log");
    let long = format!(
        "/v2/webhooks/site-build/deliveries/msg_{}/retry/",
        "a".repeat(2000)
    );
    assert_eq!(t.request("POST", &long, None).await.status, 404);
}

#[tokio::test]
async fn without_the_allow_list_urls_to_private_addresses_are_refused_at_registration() {
    use folio::outbound::Guard;
    use folio::webhooks::send::validate;
    use folio::webhooks::WebhookSpec;
    let strict = Guard::strict();
    let spec = |url: &str| WebhookSpec {
        url: url.into(),
        events: vec!["collectionitem.*".into()],
        collections: None,
        enabled: true,
    };
    for url in [
        "https://127.0.0.1:8443/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::1]/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/",
        "https://[fd00::1]/",
        "https://localhost/",  // a name resolving to loopback (/etc/hosts)
        "http://example.com/", // http only with the allow-list on
    ] {
        let e = validate(&spec(url), &strict).await.expect_err(url);
        assert_eq!(e.status(), 400, "{url}");
    }
}

#[tokio::test]
async fn failing_receivers_never_delay_or_duplicate_deliveries_to_a_healthy_one() {
    let t = TestApp::spawn().await;
    let healthy = Receiver::start(always(200)).await.unwrap();
    // 500 to the first request, 200 after: one delivery retried once.
    let flaky = Receiver::start(Arc::new(|n| Answer::Status(if n == 0 { 500 } else { 200 })))
        .await
        .unwrap();
    let gone = Receiver::start(always(410)).await.unwrap();
    let target = Receiver::start(always(200)).await.unwrap();
    let location = target.url.clone();
    let redirect = Receiver::start(Arc::new(move |_| Answer::Redirect(location.clone())))
        .await
        .unwrap();
    let hang = Receiver::start(Arc::new(|_| Answer::Hang)).await.unwrap();
    let receivers = [
        ("healthy", &healthy),
        ("flaky", &flaky),
        ("gone", &gone),
        ("redirect", &redirect),
        ("hang", &hang),
    ];
    let mut secrets = BTreeMap::new();
    for (id, r) in &receivers {
        let secret = register(&t, id, &r.url).await;
        r.verify_with(&secret);
        secrets.insert(*id, secret);
    }
    let items: Vec<String> = futures::future::join_all((0..3).map(|i| {
        t.create(
            "team_members",
            "published",
            json!({"en": {"name": format!("P{i}")}}),
        )
    }))
    .await;
    assert_eq!(items.len(), 3);

    let started = Instant::now();
    let mut healthy_at = None;
    t.deliver_until(Duration::from_secs(60), || {
        if healthy.count() >= 3 && healthy_at.is_none() {
            healthy_at = Some(started.elapsed());
        }
        let flaky_ok = flaky.count() >= 4;
        healthy_at.is_some() && flaky_ok && hang.count() >= 4 && redirect.count() >= 4
    })
    .await;
    // Promptly: the first round's hanging receiver holds its batch for the
    // 2 s timeout; the healthy receiver never waits for retries.
    let healthy_at = healthy_at.unwrap();
    assert!(
        healthy_at < Duration::from_secs(15),
        "healthy after {healthy_at:?}"
    );

    // Healthy: every event exactly once, each with its own webhook-id.
    let h = ids(&healthy);
    assert_eq!(h.len(), 3, "{h:?}");
    assert_eq!(h.iter().collect::<BTreeSet<_>>().len(), 3);
    let events: BTreeSet<String> = healthy
        .received()
        .iter()
        .map(|r| r.json()["data"]["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events.len(), 3);
    for r in healthy.received() {
        let body = r.json();
        assert_eq!(body["webhook"]["event"], "collectionitem.published");
        assert_eq!(body["data"]["id"], "team_members");
        assert_eq!(body["data"]["status"], "published");
        assert_eq!(body["data"]["version"], 1);
        let item = body["data"]["itemid"].as_str().unwrap();
        assert!(
            items
                .iter()
                .any(|id| item == format!("/v2/content/?keys=team_members[_id={id}]")),
            "{item}"
        );
    }

    // Flaky: the one that failed came again, signed, with the same id; each
    // event was delivered (2xx) exactly once.
    let f = ids(&flaky);
    assert_eq!(f.len(), 4, "{f:?}");
    assert_eq!(f.iter().collect::<BTreeSet<_>>().len(), 3);
    assert_eq!(
        f.iter().filter(|id| **id == f[0]).count(),
        2,
        "the first is retried"
    );
    // Distinct per endpoint: the same event has another id at each receiver.
    assert!(f.iter().all(|id| !h.contains(id)));

    // Gone: disabled, and nothing more after.
    let hook = t.request("GET", "/v2/webhooks/gone/", None).await;
    assert_eq!(hook.body["enabled"], json!(false), "{:?}", hook.body);
    assert!(hook.body["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("410"));
    let gone_before = gone.count();
    assert!((1..=3).contains(&gone_before), "{gone_before}");

    // Redirect: a failure, retried, and its Location never reached.
    assert_eq!(target.count(), 0);
    // Hang: timed out and retried.
    let hang_ids = ids(&hang);
    assert!(
        hang_ids.len() > hang_ids.iter().collect::<BTreeSet<_>>().len(),
        "{hang_ids:?}"
    );

    // One more event: the healthy receiver gets it, the disabled one does not.
    t.create("team_members", "published", json!({"en": {"name": "Late"}}))
        .await;
    t.deliver_until(Duration::from_secs(30), || healthy.count() >= 4)
        .await;
    assert_eq!(
        gone.count(),
        gone_before,
        "a disabled endpoint gets nothing"
    );
    assert_eq!(healthy.count(), 4);

    // Every request, retries included, verifies; a flipped byte does not.
    for (id, r) in &receivers {
        for got in r.received() {
            assert_eq!(got.verified, Some(true), "{id}: {:?}", got.headers);
        }
    }
    let one = &healthy.received()[0];
    let mut body = one.body.to_vec();
    body[10] ^= 1;
    let verifier = standardwebhooks_verifier(&secrets["healthy"]);
    assert!(verifier.verify(&one.body, &one.headers).is_ok());
    assert!(verifier.verify(&body, &one.headers).is_err());

    // The log shows the flaky endpoint's attempts: a 500, then its retry.
    let log = t
        .request("GET", "/v2/webhooks/flaky/deliveries/", None)
        .await;
    assert_eq!(log.status, 200, "{:?}", log.body);
    let attempts = log.body["data"].as_array().unwrap();
    // The four above and the late event's.
    assert_eq!(attempts.len(), flaky.count(), "{attempts:?}");
    assert_eq!(attempts.len(), 5, "{attempts:?}");
    let failed: Vec<_> = attempts
        .iter()
        .filter(|a| a["status_code"] == 500)
        .collect();
    assert_eq!(failed.len(), 1);
    let retried: Vec<_> = attempts
        .iter()
        .filter(|a| a["delivery_id"] == failed[0]["delivery_id"])
        .collect();
    assert_eq!(retried.len(), 2);
    assert!(
        retried
            .iter()
            .any(|a| a["status_code"] == 200 && a["attempt"] == 2),
        "{retried:?}"
    );
    let hang_log = t
        .request("GET", "/v2/webhooks/hang/deliveries/", None)
        .await;
    assert!(
        hang_log.body["data"][0]["error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{:?}",
        hang_log.body
    );
}

fn standardwebhooks_verifier(secret: &str) -> standardwebhooks::Webhook {
    standardwebhooks::Webhook::new(secret).unwrap()
}

#[tokio::test]
async fn three_deliveries_of_one_message_two_at_once_reach_the_receiver_once() {
    let t = TestApp::spawn().await;
    let receiver = Receiver::start(always(200)).await.unwrap();
    register(&t, "once", &receiver.url).await;
    t.create("team_members", "published", json!({"en": {"name": "Once"}}))
        .await;
    // Relay and worker only: the delivery message waits on its queue.
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let messages = loop {
        t.queue.pump(&t.worker, Duration::ZERO).await.unwrap();
        let m = t
            .deliveries
            .receive(Duration::from_millis(200))
            .await
            .unwrap();
        if !m.is_empty() {
            break m;
        }
        assert!(Instant::now() < deadline, "no delivery queued");
    };
    assert_eq!(messages.len(), 1);
    let event = t.deliveries.event(&messages).unwrap();
    let (a, b) = tokio::join!(
        t.deliverer.handle(event.clone()),
        t.deliverer.handle(event.clone())
    );
    let c = t.deliverer.handle(event).await;
    assert!(c.batch_item_failures.is_empty(), "the third finds it done");
    assert_eq!(
        a.batch_item_failures.len() + b.batch_item_failures.len(),
        1,
        "one of the two at once finds it in flight"
    );
    assert_eq!(receiver.count(), 1, "{:?}", ids(&receiver));
    let sent: folio::events::deliver::DeliveryMessage =
        serde_json::from_str(messages[0].body().unwrap()).unwrap();
    let job = t
        .app
        .store
        .job(&sent.event.event_id, &sent.job_key())
        .await
        .unwrap()
        .unwrap();
    assert!(job.done);
    assert_eq!(job.runs, 1);
}

#[tokio::test]
async fn test_ping_manual_retry_and_rotation_are_signed_with_the_right_secrets() {
    let t = TestApp::spawn().await;
    // The event's first attempt (the second request) fails, so that the
    // manual retry has a delivery to make.
    let receiver = Receiver::start(Arc::new(|n| Answer::Status(if n == 1 { 500 } else { 200 })))
        .await
        .unwrap();
    let secret = register(&t, "ops", &receiver.url).await;
    receiver.verify_with(&secret);

    let ping = t.request("POST", "/v2/webhooks/ops/test/", None).await;
    assert_eq!(ping.status, 200, "{:?}", ping.body);
    assert_eq!(ping.body["delivered"], json!(true));
    assert_eq!(ping.body["status_code"], json!(200));
    assert_eq!(receiver.count(), 1);
    assert_eq!(
        receiver.received()[0].json()["webhook"]["event"],
        "webhook.test"
    );
    assert_eq!(receiver.received()[0].verified, Some(true));

    t.create("team_members", "draft", json!({"en": {"name": "Draft"}}))
        .await;
    t.deliver_until(Duration::from_secs(30), || receiver.count() >= 2)
        .await;
    let first = receiver.received()[1].clone();
    assert_eq!(first.json()["webhook"]["event"], "collectionitem.draft");

    let log = t.request("GET", "/v2/webhooks/ops/deliveries/", None).await;
    let newest = &log.body["data"][0];
    assert_eq!(newest["delivery_id"], first.webhook_id());
    assert_eq!(newest["attempt"], 1);
    let retry = t
        .request(
            "POST",
            &format!("/v2/webhooks/ops/deliveries/{}/retry/", first.webhook_id()),
            None,
        )
        .await;
    assert_eq!(retry.status, 200, "{:?}", retry.body);
    assert_eq!(retry.body["attempt"], 2);
    assert_eq!(retry.body["manual"], json!(true));
    let again = receiver.received()[2].clone();
    assert_eq!(again.webhook_id(), first.webhook_id(), "the same message");
    assert_eq!(again.verified, Some(true));
    assert_eq!(
        t.request(
            "POST",
            "/v2/webhooks/ops/deliveries/msg_unknown/retry/",
            None
        )
        .await
        .status,
        404
    );

    // Rotation: the new secret is shown once; deliveries verify with both
    // the new and (for a day) the old one.
    let rotated = t.request("POST", "/v2/webhooks/ops/rotate/", None).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    t.request("POST", "/v2/webhooks/ops/test/", None).await;
    let last = receiver.received().last().unwrap().clone();
    for s in [&secret, &new_secret] {
        assert!(standardwebhooks_verifier(s)
            .verify(&last.body, &last.headers)
            .is_ok());
    }
}

#[tokio::test]
async fn a_registered_loopback_url_is_refused_at_delivery_once_the_allow_list_is_off() {
    let t = TestApp::spawn().await;
    let receiver = Receiver::start(always(200)).await.unwrap();
    register(&t, "local", &receiver.url).await;
    let strict = folio::webhooks::send::Sender::new(
        t.webhook_key.clone(),
        folio::outbound::Guard::strict(),
        folio::outbound::Timeouts {
            connect: Duration::from_secs(1),
            total: Duration::from_secs(2),
        },
    )
    .unwrap();
    let hook = t
        .app
        .store
        .get_webhook(&t.org, &folio::ids::WebhookId::parse("local").unwrap())
        .await
        .unwrap()
        .unwrap();
    let sent = strict.send(&hook, "msg_x", b"{}").await.unwrap();
    let error = sent.outcome.error().expect("refused, not sent");
    assert!(error.contains("loopback"), "{error}");
    assert_eq!(receiver.count(), 0, "the receiver was never reached");
}

#[tokio::test]
async fn no_webhook_secret_or_url_token_reaches_the_logs() {
    let t = TestApp::spawn().await;
    let (captured, _guard) = folio_tests::capture_logs(tracing::Level::DEBUG);
    // DEBUG and above (production logs at INFO). At TRACE the AWS SDK
    // prints raw DynamoDB bodies, endpoint URLs among them; the secrets in
    // them are sealed, and docs/operations.md says not to run TRACE in production.
    // The ping and the event's first attempt fail; the manual retry delivers.
    let flaky = Receiver::start(Arc::new(|n| Answer::Status(if n <= 1 { 500 } else { 200 })))
        .await
        .unwrap();
    let url = format!("{}hook?token=q-s3cr3t-in-query", flaky.url);
    let secret = register(&t, "logged", &url).await;
    t.request("POST", "/v2/webhooks/logged/test/", None).await;
    t.create("team_members", "published", json!({"en": {"name": "Log"}}))
        .await;
    t.deliver_until(Duration::from_secs(30), || flaky.count() >= 2)
        .await;
    let rotated = t.request("POST", "/v2/webhooks/logged/rotate/", None).await;
    let new_secret = rotated.body["secret"].as_str().unwrap().to_owned();
    let log = t
        .request("GET", "/v2/webhooks/logged/deliveries/", None)
        .await;
    let id = log.body["data"][0]["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned();
    t.request(
        "POST",
        &format!("/v2/webhooks/logged/deliveries/{id}/retry/"),
        None,
    )
    .await;
    // A refused URL's error names the address, not the URL.
    t.request(
        "PUT",
        "/v2/webhooks/refused/",
        Some(json!({"url": "https://10.0.0.1/?token=q-s3cr3t-in-query", "events": ["collectionitem.*"]})),
    )
    .await;
    let logs = captured.text();
    assert!(
        logs.contains("webhook attempt"),
        "the capture works: {logs}"
    );
    for s in [&secret, &new_secret] {
        assert!(!logs.contains(s.as_str()), "a secret reached the logs");
        assert!(!logs.contains(&s["whsec_".len()..]));
    }
    assert!(
        !logs.contains(&t.webhook_key_b64),
        "the sealing key reached the logs"
    );
    if let Some(at) = logs.find("q-s3cr3t-in-query") {
        panic!(
            "a URL token reached the logs: {}",
            &logs[logs[..at].rfind("{\"timestamp").unwrap_or(0)..(at + 40).min(logs.len())]
        );
    }
}

#[tokio::test]
async fn a_manual_retry_that_delivers_ends_the_queued_retries() {
    let t = TestApp::spawn().await;
    let flaky = Receiver::start(Arc::new(|n| Answer::Status(if n == 0 { 500 } else { 200 })))
        .await
        .unwrap();
    register(&t, "manual", &flaky.url).await;
    t.create("team_members", "published", json!({"en": {"name": "M"}}))
        .await;
    // The first attempt fails; the message waits out its backoff.
    t.deliver_until(Duration::from_secs(30), || flaky.count() >= 1)
        .await;
    let id = flaky.received()[0].webhook_id().to_owned();
    let retry = t
        .request(
            "POST",
            &format!("/v2/webhooks/manual/deliveries/{id}/retry/"),
            None,
        )
        .await;
    assert_eq!(retry.status, 200, "{:?}", retry.body);
    assert_eq!(retry.body["delivered"], json!(true));
    // The queued retry comes back (backoff of 0.5–1 s) and finds it done.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        t.deliveries
            .pump(&t.deliverer, Duration::from_millis(200))
            .await
            .unwrap();
    }
    assert_eq!(
        t.queue_depth(&t.deliveries_url).await,
        0,
        "the queued retry is done"
    );
    assert_eq!(
        flaky.count(),
        2,
        "delivered once by hand, not again: {:?}",
        ids(&flaky)
    );
}

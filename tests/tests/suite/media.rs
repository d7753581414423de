//! Media ingest end to end: an item's `media` field holds a URL on a
//! server on 127.0.0.1; the worker downloads it through the address guard,
//! stores it in moto's S3 under its hash and rewrites the field. With the
//! allow-list off, every spelling of loopback is refused and the server is
//! never reached. (Addresses outside loopback are tested only against the
//! guard itself, in `shared/app/src/outbound/guard.rs`.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use folio::events::worker::Worker;
use folio::outbound::Guard;
use folio_local::receiver::{Answer, Receiver};
use folio_tests::{folio, loopback_allowed, test_ingester, TestApp};
use serde_json::{json, Value};

/// A real 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

fn serving(body: &'static [u8], delay: Duration) -> folio_local::receiver::Behavior {
    Arc::new(move |_| Answer::Serve {
        body: body.into(),
        delay,
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    // The library URL's name: computed here independently of the ingester.
    let digest = <sha2::Sha256 as sha2::Digest>::digest(bytes);
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

async fn people(t: &TestApp) {
    let r = t
        .put_collection(
            "people",
            json!({"name": "People", "fields": [
                {"key": "name", "type": "text"},
                {"key": "photo", "type": "media"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

async fn create_person(t: &TestApp, photo: &str) -> String {
    t.create(
        "people",
        "published",
        json!({"en": {"name": "P", "photo": photo}}),
    )
    .await
}

async fn get(t: &TestApp, id: &str) -> Value {
    let r = t
        .request("GET", &format!("/v2/content/people/{id}/?preview=1"), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body.clone()
}

/// A worker like the test app's, its media ingest behind `guard`.
fn worker_with(t: &TestApp, guard: Guard) -> Worker {
    Worker::new(
        t.app.store.clone(),
        t.sqs.clone(),
        t.queue_url.clone(),
        Duration::from_secs(60),
    )
    .with_deliveries(t.deliveries_url.clone())
    .with_media(test_ingester(
        &t.s3,
        &t.media_bucket,
        &t.media_base_url,
        guard,
    ))
}

/// Relay and `worker` rounds until both queues are empty.
async fn pump_with(t: &TestApp, worker: &Worker) {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < until, "the pipeline did not settle");
        let relayed = t.pump.lock().await.pump(&t.relay).await.unwrap();
        let round = t
            .queue
            .pump(worker, Duration::from_millis(200))
            .await
            .unwrap();
        if relayed == 0 && round.received == 0 && t.in_flight().await == 0 {
            return;
        }
    }
}

#[tokio::test]
async fn a_png_served_locally_is_stored_once_under_its_hash_and_the_items_point_at_it() {
    let t = TestApp::spawn().await;
    people(&t).await;
    let server = Receiver::start(serving(PNG, Duration::ZERO)).await.unwrap();
    let other = Receiver::start(serving(PNG, Duration::ZERO)).await.unwrap();
    let text = Receiver::start(serving(b"<svg onload=alert(1)>", Duration::ZERO))
        .await
        .unwrap();
    let a = create_person(&t, &format!("{}a.png?token=1", server.url)).await;
    let b = create_person(&t, &format!("{}same-bytes", other.url)).await;
    let c = create_person(&t, &format!("{}not-an-image.png", text.url)).await;
    t.run_pipeline(Duration::from_secs(60)).await;

    let key = format!("{}.png", sha256_hex(PNG));
    let library = format!("{}/{key}", t.media_base_url);
    for id in [&a, &b] {
        let item = get(&t, id).await;
        assert_eq!(item["photo"], json!(library), "{item}");
        assert_eq!(item["meta"]["version"], 2, "the rewrite is a new version");
        assert!(item["meta"].get("media").is_none(), "{item}");
    }
    assert_eq!((server.count(), other.count()), (1, 1));
    let object =
        t.s3.get_object()
            .bucket(&t.media_bucket)
            .key(&key)
            .send()
            .await
            .expect("stored under its hash");
    assert_eq!(object.content_type(), Some("image/png"));
    let stored = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(&stored[..], PNG);
    let listed =
        t.s3.list_objects_v2()
            .bucket(&t.media_bucket)
            .send()
            .await
            .unwrap();
    assert_eq!(
        listed.key_count(),
        Some(1),
        "the second item reuses the object"
    );

    // Not an image: the item stays as it was, and says why with preview=1.
    let item = get(&t, &c).await;
    assert_eq!(item["meta"]["version"], 1);
    assert_eq!(
        item["photo"],
        json!(format!("{}not-an-image.png", text.url))
    );
    let status = &item["meta"]["media"]["en.photo"];
    assert_eq!(status["state"], "failed", "{item}");
    assert!(
        status["error"].as_str().unwrap().contains("not an image"),
        "{status}"
    );
    let published = t
        .request("GET", &format!("/v2/content/people/{c}/"), None)
        .await;
    assert_eq!(published.body["meta"]["version"], 1);
    assert!(
        published.body["meta"].get("media").is_none(),
        "preview only"
    );
}

#[tokio::test]
async fn an_item_edited_during_the_download_keeps_the_newer_value() {
    let t = TestApp::spawn().await;
    people(&t).await;
    let slow = Receiver::start(serving(PNG, Duration::from_millis(1500)))
        .await
        .unwrap();
    let fast = Receiver::start(serving(GIF, Duration::ZERO)).await.unwrap();
    let id = create_person(&t, &slow.url).await;
    t.pump.lock().await.pump(&t.relay).await.unwrap();
    let newer = format!("{}newer.gif", fast.url);
    let edit = async {
        let until = Instant::now() + Duration::from_secs(20);
        while slow.count() == 0 {
            assert!(Instant::now() < until, "the download never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let r = t
            .request(
                "PATCH",
                &format!("/v2/content/people/{id}/"),
                Some(json!({"fields": {"en": {"photo": newer}}})),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
    };
    let (round, ()) = tokio::join!(t.queue.pump(&t.worker, Duration::from_secs(5)), edit);
    assert_eq!(round.unwrap().received, 1);
    let item = get(&t, &id).await;
    assert_eq!(item["photo"], json!(newer), "the edit wins: {item}");
    assert_eq!(item["meta"]["version"], 2);
    // The edit's own event ingests the newer value.
    t.run_pipeline(Duration::from_secs(60)).await;
    let item = get(&t, &id).await;
    assert_eq!(
        item["photo"],
        json!(format!("{}/{}.gif", t.media_base_url, sha256_hex(GIF)))
    );
    assert_eq!(item["meta"]["version"], 3);
}

#[tokio::test]
async fn loopback_in_every_spelling_is_refused_through_the_worker_and_never_reached() {
    let t = TestApp::spawn().await;
    people(&t).await;
    let target = Receiver::start(serving(PNG, Duration::ZERO)).await.unwrap();
    let port = target.addr.port();
    let v6 = Receiver::bind("[::1]:0".parse().unwrap(), serving(PNG, Duration::ZERO)).await;
    let mut urls = vec![
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
    ];
    match &v6 {
        Ok(r) => urls.push(format!("http://[::1]:{}/", r.addr.port())),
        Err(e) => {
            eprintln!("no IPv6 loopback here ({e}); [::1] is covered by the guard's unit tests")
        }
    }
    // The allow-list off, as in production.
    let strict = worker_with(&t, Guard::strict());
    let mut ids = Vec::new();
    for url in &urls {
        ids.push((url.clone(), create_person(&t, url).await));
    }
    pump_with(&t, &strict).await;
    for (url, id) in &ids {
        let item = get(&t, id).await;
        assert_eq!(item["photo"], json!(url), "untouched: {item}");
        assert_eq!(item["meta"]["version"], 1, "{url}");
        let status = &item["meta"]["media"]["en.photo"];
        assert!(
            status["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("refused"),
            "{url}: {status}"
        );
    }
    assert_eq!(target.count(), 0, "the server was never reached");
    if let Ok(r) = &v6 {
        assert_eq!(r.count(), 0);
    }

    // A scheme other than http(s) is refused when written, before any worker.
    let r = t
        .request(
            "POST",
            "/v2/content/",
            Some(json!({"key": "people", "status": "published", "fields": [{"en": {"name": "F", "photo": "file:///etc/passwd"}}]})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);

    // Allow-listed 127.0.0.1 redirecting to a refused loopback address:
    // the redirect is checked again and refused; its target never reached.
    let hidden = Receiver::bind("127.0.0.2:0".parse().unwrap(), serving(PNG, Duration::ZERO))
        .await
        .unwrap();
    let to = format!("http://127.0.0.2:{}/secret", hidden.addr.port());
    let redirect = Receiver::start(Arc::new(move |_| Answer::Redirect(to.clone())))
        .await
        .unwrap();
    let allowed = worker_with(&t, loopback_allowed());
    let id = create_person(&t, &redirect.url).await;
    pump_with(&t, &allowed).await;
    let item = get(&t, &id).await;
    assert_eq!(item["photo"], json!(redirect.url));
    assert!(
        item["meta"]["media"]["en.photo"]["error"]
            .as_str()
            .unwrap()
            .contains("127.0.0.2"),
        "{item}"
    );
    assert_eq!(redirect.count(), 1);
    assert_eq!(hidden.count(), 0, "the redirect's target was never reached");
}

//! `folio-admin`: sets up a Folio deployment's table and queues, creates
//! organizations, mints or revokes API tokens, re-drives dead-letter queues
//! and replays events. It reads the same `FOLIO_TABLE`, `FOLIO_QUEUE_URL`,
//! `FOLIO_DLQ_URL` and AWS settings as the functions. A minted token is
//! printed once, alone on stdout; only its SHA-256 is stored.

use clap::{Parser, Subcommand};
use folio::auth::{Operation, Scope, Token, TokenRecord};
use folio::ids::{CollectionKey, ItemId, Locale, OrgId};
use folio::schema::Org;
use folio::store::admin::ItemFilter;
use folio::store::Store;

#[derive(Parser)]
#[command(name = "folio-admin", about = "Administer a Folio deployment")]
struct Cli {
    /// The DynamoDB table.
    #[arg(long, env = "FOLIO_TABLE", default_value = "folio", global = true)]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the table, the events queue and the deliveries queue (each
    /// with its DLQ), the media bucket and the schedule group if missing;
    /// prints FOLIO_TABLE=…, FOLIO_QUEUE_URL=…, FOLIO_DELIVERIES_QUEUE_URL=…,
    /// FOLIO_MEDIA_BUCKET=…, FOLIO_SCHEDULE_*=… lines.
    Init {
        #[arg(long, env = "FOLIO_QUEUE_NAME", default_value = "folio-events")]
        queue: String,
        /// The webhook deliveries queue (with its DLQ).
        #[arg(
            long,
            env = "FOLIO_DELIVERIES_QUEUE_NAME",
            default_value = "folio-deliveries"
        )]
        deliveries_queue: String,
        /// The media bucket (media ingest stores files there).
        #[arg(long, env = "FOLIO_MEDIA_BUCKET", default_value = "folio-media")]
        media_bucket: String,
        /// The EventBridge Scheduler group schedules are created in.
        #[arg(long, env = "FOLIO_SCHEDULE_GROUP", default_value = "folio-schedules")]
        schedule_group: String,
    },
    /// Print the API's OpenAPI 3.1 document (YAML), as committed in `openapi.yaml`.
    Openapi,
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Indexed fields.
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Dead-letter queues.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Re-send the current-state event of chosen items to the events queue:
    /// one item, a collection, or the items changed in a time range (after
    /// an outage longer than the stream keeps records, say). Jobs that ran
    /// for an event already do not run again. The pending schedules of the
    /// same items (all of the organization's without an item) are armed
    /// again: arming one that exists changes nothing.
    Replay {
        #[arg(long)]
        org: String,
        #[arg(long)]
        collection: Option<String>,
        /// One item (needs --collection).
        #[arg(long, requires = "collection")]
        item: Option<String>,
        /// Items changed at or after this time (RFC 3339, UTC).
        #[arg(long)]
        since: Option<String>,
        /// Items changed at or before this time (RFC 3339, UTC).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, env = "FOLIO_QUEUE_URL")]
        queue_url: String,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Build the entries of indexed fields that lack them: fields indexed
    /// on a collection that already had items (listed in the collection's
    /// `building`), or every indexed field after the organization's
    /// default locale changed. Waits until the functions' schema cache has
    /// expired since the schema changed (plus a margin). The worker builds
    /// the same on its own; this is the by-hand path.
    Build {
        #[arg(long)]
        org: String,
        /// One collection; all of the organization's when omitted.
        #[arg(long)]
        collection: Option<String>,
        /// Rebuild every indexed field, built or not (a repair).
        #[arg(long)]
        all: bool,
        /// The functions' schema cache time.
        #[arg(long, env = "FOLIO_SCHEMA_CACHE_SECONDS", default_value_t = 30)]
        settle_seconds: u64,
    },
    /// List the `restrict` reference edges written before `by_field` held
    /// them (a stack upgraded from an earlier version), so a refused delete
    /// names an item's holders with one small Query. Run once after the
    /// upgrade; until then such deletes read the item's edges with a filter.
    References,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Move every message of the DLQ back to its queue, as it is.
    Redrive {
        #[arg(long, env = "FOLIO_QUEUE_URL")]
        queue_url: String,
        #[arg(long, env = "FOLIO_DLQ_URL")]
        dlq_url: String,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization, or update its locales.
    Create {
        org: String,
        /// Content locales, comma-separated (e.g. en,es). None: not localized.
        #[arg(long, value_delimiter = ',')]
        locales: Vec<String>,
        /// The default locale; the first of --locales when omitted.
        #[arg(long)]
        default_locale: Option<String>,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Mint a token and print it alone on stdout.
    Create {
        #[arg(long)]
        org: String,
        /// read, write or admin; repeat for several.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Limit the token to these collections; repeat for several.
        #[arg(long = "collection")]
        collections: Vec<String>,
        /// Limit the token to these operations (create, read, update, delete).
        #[arg(long = "operation")]
        operations: Vec<String>,
        /// A label to recognise the token by.
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke a token (read from stdin when not given, to keep it out of shell history).
    Revoke { token: Option<String> },
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("folio-admin: {msg}");
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", folio::api::openapi::yaml());
        return;
    }
    let sdk = folio::aws::sdk_config()
        .await
        .unwrap_or_else(|e| fail(format!("{e:?}")));
    let store = Store::new(folio::store::dynamodb_client(&sdk), cli.table.clone());
    if let Err(e) = run(cli, &sdk, &store).await {
        fail(format!("{e}: {e:?}"));
    }
}

async fn run(cli: Cli, sdk: &folio::app::SdkConfig, store: &Store) -> Result<(), folio::Error> {
    match cli.command {
        Command::Openapi => unreachable!("answered before any AWS client is built"),
        Command::Init {
            queue,
            deliveries_queue,
            media_bucket,
            schedule_group,
        } => {
            let created = store.ensure_table().await?;
            let sqs = aws_sdk_sqs::Client::new(sdk);
            let (queue_url, dlq_url) = folio::events::ensure_queues(&sqs, &queue).await?;
            let (deliveries_url, deliveries_dlq_url) = folio::events::ensure_queues_with(
                &sqs,
                &deliveries_queue,
                folio::events::QueueSettings::deliveries(),
            )
            .await?;
            eprintln!(
                "table {} {}",
                cli.table,
                if created { "created" } else { "already exists" }
            );
            println!("FOLIO_TABLE={}", cli.table);
            println!("FOLIO_QUEUE_URL={queue_url}");
            println!("FOLIO_DLQ_URL={dlq_url}");
            println!("FOLIO_DELIVERIES_QUEUE_URL={deliveries_url}");
            println!("FOLIO_DELIVERIES_DLQ_URL={deliveries_dlq_url}");
            let scheduler = aws_sdk_scheduler::Client::new(sdk);
            folio::events::ensure_schedule_group(&scheduler, &schedule_group).await?;
            println!("FOLIO_SCHEDULE_GROUP={schedule_group}");
            println!(
                "FOLIO_SCHEDULE_TARGET_ARN={}",
                folio::events::queue_arn(&sqs, &queue_url).await?
            );
            println!(
                "FOLIO_SCHEDULE_DLQ_ARN={}",
                folio::events::queue_arn(&sqs, &dlq_url).await?
            );
            println!(
                "FOLIO_SCHEDULER_ROLE_ARN={}",
                folio::events::LOCAL_SCHEDULER_ROLE_ARN
            );
            let s3 = folio::media::s3_client(sdk);
            folio::media::ensure_bucket(&s3, &media_bucket).await?;
            println!("FOLIO_MEDIA_BUCKET={media_bucket}");
            // Locally the bucket is served by the S3 stand-in itself; on AWS
            // the template's CDN serves it (its MediaBaseUrl output).
            if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_S3") {
                folio::media::allow_public_read_locally(&s3, &media_bucket).await?;
                println!(
                    "FOLIO_MEDIA_BASE_URL={}/{media_bucket}",
                    endpoint.trim_end_matches('/')
                );
            }
        }
        Command::Org {
            command:
                OrgCommand::Create {
                    org,
                    locales,
                    default_locale,
                },
        } => {
            let id = OrgId::parse(&org).unwrap_or_else(|e| fail(e));
            let locales: Vec<Locale> = locales
                .iter()
                .map(|l| Locale::parse(l).unwrap_or_else(|e| fail(e)))
                .collect();
            let default_locale = match default_locale {
                Some(d) => Some(Locale::parse(&d).unwrap_or_else(|e| fail(e))),
                None => locales.first().cloned(),
            };
            if let Some(d) = &default_locale {
                if !locales.contains(d) {
                    fail("--default-locale must be one of --locales");
                }
            }
            let marked = store
                .put_org_and_mark(&Org {
                    id,
                    locales,
                    default_locale,
                })
                .await?;
            eprintln!("organization {org} saved");
            if !marked.is_empty() {
                eprintln!(
                    "the default locale changed: indexes of {} are rebuilt by the worker (or `folio-admin index build --org {org}`)",
                    marked.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    org,
                    scopes,
                    collections,
                    operations,
                    name,
                },
        } => {
            let org = OrgId::parse(&org).unwrap_or_else(|e| fail(e));
            if store.get_org(&org).await?.is_none() {
                fail(format!(
                    "no organization {org}: create it with `folio-admin org create {org}`"
                ));
            }
            let scopes: Vec<Scope> = scopes
                .iter()
                .map(|s| {
                    Scope::parse(s).unwrap_or_else(|| {
                        fail(format!("unknown scope {s}: use read, write or admin"))
                    })
                })
                .collect();
            let collections: Vec<CollectionKey> = collections
                .iter()
                .map(|c| CollectionKey::parse(c).unwrap_or_else(|e| fail(e)))
                .collect();
            let operations: Vec<Operation> = operations
                .iter()
                .map(|o| {
                    Operation::parse(o).unwrap_or_else(|| fail(format!("unknown operation {o}")))
                })
                .collect();
            let token = Token::mint();
            let record = TokenRecord {
                org,
                scopes,
                collections: (!collections.is_empty()).then_some(collections),
                operations: (!operations.is_empty()).then_some(operations),
                revoked: false,
                name,
                created_at: folio::clock::now(),
            };
            store.put_token(&token.hash(), &record).await?;
            println!("{}", token.expose());
        }
        Command::Index {
            command:
                IndexCommand::Build {
                    org,
                    collection,
                    all,
                    settle_seconds,
                },
        } => {
            let org = OrgId::parse(&org).unwrap_or_else(|e| fail(e));
            let keys = match collection {
                Some(c) => vec![CollectionKey::parse(&c).unwrap_or_else(|e| fail(e))],
                None => store
                    .list_collections(&org)
                    .await?
                    .into_iter()
                    .map(|c| c.key)
                    .collect(),
            };
            let settle = std::time::Duration::from_secs(settle_seconds)
                + folio::store::entries::SETTLE_MARGIN;
            for key in keys {
                let built = store.reindex(&org, &key, all, settle).await?;
                eprintln!(
                    "{key}: {} entries removed, {} items indexed",
                    built.purged, built.items
                );
            }
        }
        Command::Index {
            command: IndexCommand::References,
        } => {
            let listed = store.index_restrict_edges().await?;
            eprintln!("{listed} restrict edges listed");
        }
        Command::Dlq {
            command: DlqCommand::Redrive { queue_url, dlq_url },
        } => {
            let sqs = aws_sdk_sqs::Client::new(sdk);
            let moved = folio::events::redrive(&sqs, &dlq_url, &queue_url).await?;
            eprintln!("{moved} messages moved from the DLQ back to the queue");
        }
        Command::Replay {
            org,
            collection,
            item,
            since,
            until,
            queue_url,
        } => {
            let org = OrgId::parse(&org).unwrap_or_else(|e| fail(e));
            let collection =
                collection.map(|c| CollectionKey::parse(&c).unwrap_or_else(|e| fail(e)));
            // In the stored form, which sorts as time does.
            let stored = |t: Option<String>| {
                t.map(|t| {
                    folio::clock::parse_time(&t).unwrap_or_else(|| {
                        fail(format!(
                            "{t} is not an RFC 3339 time (e.g. 2026-11-23T10:00:00Z)"
                        ))
                    })
                })
            };
            let (since, until) = (stored(since), stored(until));
            let items = match (&collection, item) {
                (Some(c), Some(id)) => {
                    let id = ItemId::parse(&id).unwrap_or_else(|e| fail(e));
                    store.get_item(&org, c, &id).await?.into_iter().collect()
                }
                _ => {
                    let filter = ItemFilter {
                        collection: collection.as_ref(),
                        since: since.as_deref(),
                        until: until.as_deref(),
                    };
                    store.scan_items(&org, &filter).await?
                }
            };
            let events: Vec<_> = items.iter().map(folio::event::current_state).collect();
            let sqs = aws_sdk_sqs::Client::new(sdk);
            // The relay's sender: ten a message batch, in order.
            let relay = folio::events::relay::Relay::new(sqs, queue_url, String::new());
            let sent = relay.send_events(&events).await;
            eprintln!("{sent} of {} events sent", events.len());
            if sent < events.len() {
                fail("the queue did not accept every event; run the replay again");
            }
            let pending = pending_schedules(store, &org, collection.as_ref(), &items).await?;
            let arms: Vec<_> = pending
                .iter()
                .map(|s| {
                    folio::events::worker::ScheduleMessage::of(s, folio::events::worker::Step::Arm)
                })
                .collect();
            let sent = relay.send_steps(&arms).await;
            eprintln!("{sent} of {} pending schedules armed again", arms.len());
            if sent < arms.len() {
                fail("the queue did not accept every schedule; run the replay again");
            }
        }
        Command::Token {
            command: TokenCommand::Revoke { token },
        } => {
            let raw = match token {
                Some(t) => t,
                None => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .unwrap_or_else(|e| fail(e));
                    line
                }
            };
            let token = Token::parse(&raw).unwrap_or_else(|| fail("not a token"));
            if store.revoke_token(&token.hash()).await? {
                eprintln!("token revoked");
            } else {
                fail("no such token");
            }
        }
    }
    Ok(())
}

/// The pending schedules a replay arms again: those of `items` when one
/// item is named, else the organization's (of `collection`, if given).
async fn pending_schedules(
    store: &Store,
    org: &OrgId,
    collection: Option<&CollectionKey>,
    items: &[folio::content::ItemRecord],
) -> Result<Vec<folio::schedule::Schedule>, folio::Error> {
    use folio::schedule::ScheduleState::Pending;
    let mut out = Vec::new();
    if let [item] = items {
        for s in store
            .item_schedules(org, &item.collection, &item.id)
            .await?
        {
            if s.state == Pending {
                out.push(s);
            }
        }
        return Ok(out);
    }
    let mut after: Option<String> = None;
    loop {
        let page = store
            .org_schedules(org, Some(Pending), after.as_deref(), 100)
            .await?;
        out.extend(
            page.schedules
                .into_iter()
                .filter(|s| collection.is_none_or(|c| *c == s.collection)),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

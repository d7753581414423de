//! The scheduler's clock: what EventBridge Scheduler does for Folio's
//! schedules, done locally. moto serves the Scheduler API (create, get,
//! list, delete) but never fires a schedule, so this does: every round it
//! lists the group's schedules, reads each one's expression and target
//! once (`ListSchedules` omits them: one `GetSchedule` per schedule,
//! cached), and for each one due sends its target's input to its queue,
//! as AWS would, then deletes it (`ActionAfterCompletion: DELETE`).

use std::collections::HashMap;

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::pump::PumpError;

/// A schedule as read once: when it is due, where its input goes.
#[derive(Debug, Clone)]
struct Armed {
    at: OffsetDateTime,
    target_arn: String,
    input: String,
}

pub struct SchedulerClock {
    scheduler: aws_sdk_scheduler::Client,
    sqs: aws_sdk_sqs::Client,
    group: String,
    armed: HashMap<String, Armed>,
    queue_urls: HashMap<String, String>,
}

/// `at(yyyy-mm-ddThh:mm:ss)` in UTC.
fn parse_at(expression: &str) -> Option<OffsetDateTime> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    let t = PrimitiveDateTime::parse(
        inner,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()?;
    Some(t.assume_utc())
}

impl SchedulerClock {
    pub fn new(sdk: &folio::app::SdkConfig, group: &str) -> Self {
        SchedulerClock {
            scheduler: aws_sdk_scheduler::Client::new(sdk),
            sqs: aws_sdk_sqs::Client::new(sdk),
            group: group.to_owned(),
            armed: HashMap::new(),
            queue_urls: HashMap::new(),
        }
    }

    /// Fires every schedule of the group due at `now`; how many it fired.
    pub async fn tick(&mut self, now: OffsetDateTime) -> Result<usize, PumpError> {
        let mut names = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .scheduler
                .list_schedules()
                .group_name(&self.group)
                .set_next_token(next)
                .send()
                .await?;
            names.extend(page.schedules.into_iter().filter_map(|s| s.name));
            next = page.next_token;
            if next.is_none() {
                break;
            }
        }
        self.armed.retain(|name, _| names.contains(name));
        let mut fired = 0;
        for name in names {
            let armed = match self.armed.get(&name) {
                Some(a) => a.clone(),
                None => {
                    let s = self
                        .scheduler
                        .get_schedule()
                        .name(&name)
                        .group_name(&self.group)
                        .send()
                        .await?;
                    let expression = s.schedule_expression.unwrap_or_default();
                    let at = parse_at(&expression).ok_or_else(|| {
                        format!("schedule {name}: not an at() expression: {expression}")
                    })?;
                    let target = s
                        .target
                        .ok_or_else(|| format!("schedule {name} has no target"))?;
                    let a = Armed {
                        at,
                        target_arn: target.arn,
                        input: target.input.unwrap_or_default(),
                    };
                    self.armed.insert(name.clone(), a.clone());
                    a
                }
            };
            if armed.at > now {
                continue;
            }
            let url = self.queue_url(&armed.target_arn).await?;
            self.sqs
                .send_message()
                .queue_url(url)
                .message_body(&armed.input)
                .send()
                .await?;
            self.scheduler
                .delete_schedule()
                .name(&name)
                .group_name(&self.group)
                .send()
                .await?;
            self.armed.remove(&name);
            fired += 1;
        }
        Ok(fired)
    }

    /// The URL of the queue at `arn` (`arn:aws:sqs:<region>:<account>:<name>`).
    async fn queue_url(&mut self, arn: &str) -> Result<String, PumpError> {
        if let Some(url) = self.queue_urls.get(arn) {
            return Ok(url.clone());
        }
        let name = arn.rsplit(':').next().unwrap_or_default();
        let url = self
            .sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await?
            .queue_url
            .ok_or("no queue URL")?;
        self.queue_urls.insert(arn.to_owned(), url.clone());
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn reads_the_at_expressions_the_worker_writes() {
        assert_eq!(
            parse_at("at(2026-12-07T10:00:30)"),
            Some(datetime!(2026-12-07 10:00:30 UTC))
        );
        assert_eq!(parse_at("rate(5 minutes)"), None);
        assert_eq!(parse_at("at(tomorrow)"), None);
    }
}

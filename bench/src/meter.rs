//! An SDK interceptor that measures what one handler call costs in AWS
//! terms: how many DynamoDB and SQS requests it made, how much DynamoDB
//! capacity they consumed (it turns on `ReturnConsumedCapacity`), and how
//! long at least one AWS call was in flight (so overlapping calls of a
//! batch are not counted twice). Production code is untouched.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::operation::{
    batch_get_item::{BatchGetItemInput, BatchGetItemOutput},
    get_item::{GetItemInput, GetItemOutput},
    put_item::{PutItemInput, PutItemOutput},
    query::{QueryInput, QueryOutput},
    transact_write_items::{TransactWriteItemsInput, TransactWriteItemsOutput},
    update_item::{UpdateItemInput, UpdateItemOutput},
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// When one SDK call started, kept in that call's config bag.
#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    pub ddb_requests: u32,
    pub sqs_requests: u32,
    pub capacity_units: f64,
    pub aws_time: Duration,
    /// CPU time of the calling thread while at least one call was in
    /// flight (the SDK's own work: serializing, signing, parsing).
    pub aws_cpu: Duration,
    /// Summed durations of each service's calls (overlaps count twice).
    pub ddb_time: Duration,
    pub sqs_time: Duration,
    /// From the first call of a service to the end of its last one.
    pub ddb_span: Duration,
    pub sqs_span: Duration,
    /// CPU time the handler's thread spent outside AWS calls (set by the
    /// caller, which knows the whole call's CPU time).
    pub handler_cpu: Duration,
}

#[derive(Debug)]
struct State {
    usage: Usage,
    /// First start and last end of each service's calls: [DynamoDB, SQS].
    spans: [Option<(Instant, Instant)>; 2],
    in_flight: u32,
    since: Instant,
    cpu_since: Duration,
}

#[derive(Debug, Clone)]
pub struct Meter {
    state: Arc<Mutex<State>>,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            state: Arc::new(Mutex::new(State {
                usage: Usage::default(),
                spans: [None, None],
                in_flight: 0,
                since: Instant::now(),
                cpu_since: Duration::ZERO,
            })),
        }
    }
}

impl Meter {
    /// Returns the usage so far and starts counting afresh.
    pub fn take(&self) -> Usage {
        let mut s = self.state.lock().unwrap();
        let span = |x: Option<(Instant, Instant)>| {
            x.map(|(a, b)| b.saturating_duration_since(a))
                .unwrap_or_default()
        };
        s.usage.ddb_span = span(s.spans[0].take());
        s.usage.sqs_span = span(s.spans[1].take());
        std::mem::take(&mut s.usage)
    }

    pub fn for_service(&self, service: Service) -> ServiceMeter {
        ServiceMeter {
            meter: self.clone(),
            service,
        }
    }

    fn begin(&self, service: Service) {
        let mut s = self.state.lock().unwrap();
        match service {
            Service::DynamoDb => s.usage.ddb_requests += 1,
            Service::Sqs => s.usage.sqs_requests += 1,
        }
        if s.in_flight == 0 {
            s.since = Instant::now();
            s.cpu_since = thread_cpu();
        }

        s.in_flight += 1;
    }

    fn end(&self, service: Service, took: Duration) {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        let slot = &mut s.spans[service as usize];
        *slot = Some(slot.map_or((now - took, now), |(first, _)| (first, now)));
        match service {
            Service::DynamoDb => s.usage.ddb_time += took,
            Service::Sqs => s.usage.sqs_time += took,
        }
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            let busy = s.since.elapsed();
            s.usage.aws_time += busy;
            let cpu = thread_cpu().saturating_sub(s.cpu_since);
            s.usage.aws_cpu += cpu;
        }
    }

    fn capacity(&self, c: Option<&ConsumedCapacity>) {
        if let Some(units) = c.and_then(|c| c.capacity_units()) {
            self.state.lock().unwrap().usage.capacity_units += units;
        }
    }

    fn capacities(&self, cs: &[ConsumedCapacity]) {
        for c in cs {
            self.capacity(Some(c));
        }
    }
}

/// CPU time the calling thread has used. The bench awaits each handler
/// on its main thread (`block_on`), and the SDK's hooks run in that
/// future, so the difference over a call is the handler's own CPU plus
/// the SDK's, with no time spent waiting for a core.
pub fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

#[derive(Debug, Clone, Copy)]
pub enum Service {
    DynamoDb = 0,
    /// The request path makes no SQS call any more (events leave through
    /// the table's stream); the relay's and worker's calls are metered
    /// when the pipeline is benchmarked. Reported as 0 until then.
    #[allow(dead_code)]
    Sqs = 1,
}

#[derive(Debug, Clone)]
pub struct ServiceMeter {
    meter: Meter,
    service: Service,
}

impl Intercept for ServiceMeter {
    fn name(&self) -> &'static str {
        "folio-bench-meter"
    }

    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        self.meter.begin(self.service);
        Ok(())
    }

    fn modify_before_serialization(
        &self,
        ctx: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = ctx.input_mut();
        let total = Some(ReturnConsumedCapacity::Total);
        if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchGetItemInput>() {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(out) = ctx.output_or_error() else {
            return Ok(());
        };
        let m = &self.meter;
        if let Some(o) = out.downcast_ref::<GetItemOutput>() {
            m.capacity(o.consumed_capacity());
        } else if let Some(o) = out.downcast_ref::<PutItemOutput>() {
            m.capacity(o.consumed_capacity());
        } else if let Some(o) = out.downcast_ref::<UpdateItemOutput>() {
            m.capacity(o.consumed_capacity());
        } else if let Some(o) = out.downcast_ref::<QueryOutput>() {
            m.capacity(o.consumed_capacity());
        } else if let Some(o) = out.downcast_ref::<TransactWriteItemsOutput>() {
            m.capacities(o.consumed_capacity());
        } else if let Some(o) = out.downcast_ref::<BatchGetItemOutput>() {
            m.capacities(o.consumed_capacity());
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let took = cfg
            .load::<Started>()
            .map(|s| s.0.elapsed())
            .unwrap_or_default();
        self.meter.end(self.service, took);
        Ok(())
    }
}

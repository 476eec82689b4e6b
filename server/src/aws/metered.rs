//! Every AWS call the SDK clients make, counted and timed for the metrics by service,
//! operation and outcome: one SDK interceptor on each client, so no call is missed.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::time::Instant;

#[derive(Debug)]
pub struct Metered;

#[derive(Clone, Debug)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Metered {
    fn name(&self) -> &'static str {
        "BerthMetrics"
    }

    fn read_before_execution(&self, _: &BeforeSerializationInterceptorContextRef<'_>, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    /// Once per operation, after the SDK's retries: what the caller finally got.
    fn read_after_execution(&self, context: &FinalizerInterceptorContextRef<'_>, _: &RuntimeComponents, cfg: &mut ConfigBag) -> Result<(), BoxError> {
        let (service, operation) = cfg.load::<Metadata>().map_or_else(|| ("unknown".into(), "unknown".into()), |m| (m.service().to_string(), m.name().to_string()));
        let outcome = outcome(context.response());
        metrics::counter!(crate::metrics::AWS_CALLS, "service" => service.clone(), "operation" => operation.clone(), "outcome" => outcome).increment(1);
        if let Some(Started(at)) = cfg.load::<Started>() {
            metrics::histogram!(crate::metrics::AWS_DURATION, "service" => service, "operation" => operation).record(at.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

/// `ok`, `throttled`, `error` (AWS refused), or `transport` (no answer at all).
fn outcome(response: Option<&HttpResponse>) -> &'static str {
    let Some(response) = response else { return "transport" };
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return "ok";
    }
    // The query protocols (CloudFormation, ELB) name the error in the XML body, the JSON
    // ones (ECS) in a header or the body.
    let kind = response.headers().get("x-amzn-errortype").unwrap_or_default();
    let body = String::from_utf8_lossy(response.body().bytes().unwrap_or_default());
    let throttled = ["Throttl", "RequestLimitExceeded", "TooManyRequests", "SlowDown"];
    if status == 429 || throttled.iter().any(|t| kind.contains(t) || body.contains(t)) {
        "throttled"
    } else {
        "error"
    }
}

#[cfg(test)]
mod tests {
    use super::outcome;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body.to_string()))
    }

    #[test]
    fn answers_are_told_apart() {
        assert_eq!(outcome(Some(&answer(200, "<ok/>"))), "ok");
        assert_eq!(outcome(Some(&answer(400, "<Error><Code>Throttling</Code></Error>"))), "throttled");
        assert_eq!(outcome(Some(&answer(400, "<Error><Code>ValidationError</Code></Error>"))), "error");
        assert_eq!(outcome(Some(&answer(503, ""))), "error");
        assert_eq!(outcome(None), "transport");
    }
}

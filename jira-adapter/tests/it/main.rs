//! The adapter's tests, in one binary: the client against recorded responses, a mock server and Prism, observations of real webhook deliveries, webhook intake.

mod client_fixtures;
mod client_wiremock;
mod contract_prism;
mod observe_webhooks;
mod webhook_intake;

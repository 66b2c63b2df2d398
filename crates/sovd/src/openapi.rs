//! The routes and their OpenAPI 3.1 document, generated from the handlers'
//! annotations; every operation also lists the problem responses it can give.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Problem, PROBLEM_JSON};
use crate::{
    data, entities, faults, locks, logs, modes, operations, subscriptions, updates, SovdState,
    BASE_PATH,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tomoe SOVD API",
        description = "ASAM SOVD (ISO 17978-3) diagnostics of a Tomoe vehicle: discovery, data, faults, operations, locks, modes, logs, updates and cyclic subscriptions. Errors are application/problem+json with the SOVD error_code.",
        license(name = "Apache-2.0")
    ),
    components(schemas(Problem, entities::Collection, logs::LogSeverity)),
    tags(
        (name = "discovery", description = "Entities and their relations"),
        (name = "data", description = "Signals and system information"),
        (name = "faults", description = "The fault memory"),
        (name = "operations", description = "Asynchronous executions"),
        (name = "locks", description = "Exclusive write access to an entity"),
        (name = "modes", description = "Vehicle mode and diagnostic session"),
        (name = "logs", description = "App logs"),
        (name = "updates", description = "The update agent's installs"),
        (name = "subscriptions", description = "Cyclic subscriptions over server-sent events"),
    )
)]
struct ApiDoc;

/// The routes with their documentation.
pub(crate) fn routes() -> OpenApiRouter<SovdState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(entities::list))
        .routes(routes!(entities::capabilities))
        .routes(routes!(entities::hosts))
        .routes(routes!(entities::belongs_to))
        .routes(routes!(entities::is_located_on))
        .routes(routes!(entities::areas))
        .routes(routes!(entities::area))
        .routes(routes!(entities::contains))
        .routes(routes!(entities::functions))
        .routes(routes!(entities::function))
        .routes(routes!(entities::depends_on))
        .routes(routes!(data::list))
        .routes(routes!(data::categories))
        .routes(routes!(data::groups))
        .routes(routes!(data::read, data::write))
        .routes(routes!(faults::list, faults::clear_all))
        .routes(routes!(faults::details, faults::clear_one))
        .routes(routes!(operations::list))
        .routes(routes!(operations::get))
        .routes(routes!(operations::start, operations::executions))
        .routes(routes!(
            operations::execution,
            operations::control,
            operations::cancel
        ))
        .routes(routes!(locks::create, locks::list))
        .routes(routes!(locks::get, locks::delete))
        .routes(routes!(modes::list))
        .routes(routes!(modes::get, modes::put))
        .routes(routes!(logs::links))
        .routes(routes!(logs::entries))
        .routes(routes!(updates::list))
        .routes(routes!(updates::get))
        .routes(routes!(updates::status))
        .routes(routes!(subscriptions::create, subscriptions::list))
        .routes(routes!(subscriptions::get, subscriptions::delete))
        .routes(routes!(subscriptions::events));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(entities::version_info))
        .routes(routes!(entities::root))
        .nest(BASE_PATH, v1)
}

/// The problems any operation can answer with.
const PROBLEMS: [(&str, &str); 9] = [
    ("400", "The request is malformed (incomplete-request)"),
    ("401", "No valid token (insufficient-access-rights)"),
    ("403", "The token lacks the diag or diag:write scope, or a broker permission (insufficient-access-rights)"),
    ("404", "No such entity or resource (vendor-specific, not-found)"),
    ("405", "The resource does not support the method"),
    ("409", "The entity's state forbids it: locked by another client, no lock held, read-only (precondition-not-fulfilled)"),
    ("413", "The body is larger than 64 KiB (vendor-specific, too-large)"),
    ("429", "A limit of locks, executions or subscriptions is reached (vendor-specific, limit-reached)"),
    ("503", "A platform part did not answer (not-responding)"),
];

/// Adds the problem responses, the bearer scheme and the server to the document.
pub(crate) fn finish(mut document: Document) -> Document {
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    for item in document.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            for (status, description) in PROBLEMS {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(PROBLEM_JSON, problem())
                            .build()
                            .into()
                    });
            }
            operation.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
        }
    }
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "A JWT signed by a key the broker trusts, with scope \"diag\" (read) or \"diag:write\"",
                ))
                .build(),
        ),
    );
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document
}

/// The OpenAPI document of the API.
pub fn openapi() -> Document {
    let (_, document) = routes().split_for_parts();
    finish(document)
}

/// The JSON schema of `T`, for `include-schema`.
pub(crate) fn schema_of<T: utoipa::ToSchema>() -> serde_json::Value {
    serde_json::to_value(<T as utoipa::PartialSchema>::schema()).unwrap_or_default()
}

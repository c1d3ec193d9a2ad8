//! Entra ID: the app credentials the token probe and the Graph client use, the national clouds
//! (authority and Graph hosts), and the Graph client that reads what Entra saw (sign-in log,
//! named locations, What If) over a route of its own, never the path under test; its token is
//! one issued through a path under test when the run has one (a Conditional Access policy on
//! the probe app may refuse Graph's own route).

pub mod credentials;
pub mod graph;
pub mod token;
pub mod what_if;

pub use credentials::{
    AZURE_AUTHORITY_HOST, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
    AZURE_GRAPH_HOST, AZURE_TENANT_ID, ClientAuth, ClientCertificate, CredentialsError,
    EntraCredentials, Secret,
};
pub use graph::{
    AnchorCoverage, AppliedPolicy, GraphClient, GraphError, GraphSettings, NamedLocation,
    NetworkLocationDetail, PendingSignIn, SignInLookup, SignInRecord, TokenRefusal, WhatIfPolicy,
    WhatIfRequest, WhatIfSubject, check_anchors, short_url,
};

pub use crate::scenario::cloud::{Cloud, CloudError};

//! The Graph client (sign-in log, named locations, What If) on a route of its own.

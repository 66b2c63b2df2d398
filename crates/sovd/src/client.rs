//! A small client of the API, for the `tomoe diag` commands.

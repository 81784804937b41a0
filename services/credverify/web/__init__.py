"""Pages for the people at the desks: case officers verify applicants, registrars issue and change
status. A client of the registry's and the issuer's gRPC APIs; it reads no service's store."""

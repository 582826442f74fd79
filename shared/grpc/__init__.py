"""gRPC plumbing: server bootstrap with health, reflection and interceptors; auth; health probe."""

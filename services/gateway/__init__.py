"""The linguists' browser client and its gateway: static page + JSON bridge to dispatch's gRPC."""

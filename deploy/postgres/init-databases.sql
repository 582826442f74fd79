-- One database per service: each service owns its tables and nothing else (ARCHITECTURE.md).
-- The official postgres image runs this once, when it initialises an empty data directory,
-- as POSTGRES_USER, who therefore owns the databases. The services create their own tables
-- (migrations) at start. Mounted by docker-compose.yml; k8s/base/postgres.yaml carries a
-- byte-identical copy (kustomize cannot read files outside its folder; a test keeps them equal).
CREATE DATABASE ingest;
CREATE DATABASE asr;
CREATE DATABASE quality;
CREATE DATABASE dispatch;
CREATE DATABASE annotate;
CREATE DATABASE feedback;

package pgtest

// CKANSchema creates the tables of a CKAN 2.9–2.11 database that dcor
// reads and writes (facts §4), with CKAN's column names and types. It is
// a subset: enough for the queries dcor makes, strict where CKAN is
// (primary keys, foreign keys, NOT NULL).
const CKANSchema = `
CREATE TABLE "user" (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    apikey text,
    created timestamp without time zone,
    about text,
    fullname text,
    email text,
    password text,
    state text NOT NULL DEFAULT 'active',
    sysadmin boolean DEFAULT false,
    reset_key text,
    plugin_extras jsonb,
    image_url text,
    last_active timestamp without time zone
);
CREATE TABLE "group" (
    id text PRIMARY KEY,
    name text NOT NULL UNIQUE,
    title text,
    type text NOT NULL DEFAULT 'group',
    description text,
    created timestamp without time zone,
    is_organization boolean DEFAULT false,
    approval_status text,
    state text DEFAULT 'active',
    image_url text
);
CREATE TABLE package (
    id text PRIMARY KEY,
    name varchar(100) NOT NULL UNIQUE,
    title text,
    version varchar(100),
    url text,
    notes text,
    license_id text,
    author text,
    author_email text,
    maintainer text,
    maintainer_email text,
    state text,
    type text,
    owner_org text,
    private boolean DEFAULT false,
    metadata_modified timestamp without time zone,
    creator_user_id text,
    metadata_created timestamp without time zone,
    plugin_data jsonb
);
CREATE TABLE resource (
    id text PRIMARY KEY,
    package_id text REFERENCES package(id),
    url text NOT NULL,
    format text,
    description text,
    position integer,
    hash text,
    state text,
    extras text,
    name text,
    resource_type text,
    mimetype text,
    mimetype_inner text,
    size bigint,
    last_modified timestamp without time zone,
    cache_url text,
    cache_last_updated timestamp without time zone,
    created timestamp without time zone,
    url_type text,
    metadata_modified timestamp without time zone
);
CREATE INDEX idx_package_resource_package_id ON resource (package_id);
CREATE TABLE member (
    id text PRIMARY KEY,
    table_id text NOT NULL,
    group_id text REFERENCES "group"(id),
    state text,
    table_name text NOT NULL,
    capacity text NOT NULL
);
CREATE TABLE api_token (
    id text PRIMARY KEY,
    name text,
    user_id text REFERENCES "user"(id),
    created_at timestamp without time zone,
    last_access timestamp without time zone,
    plugin_extras jsonb
);
CREATE TABLE tag (
    id text PRIMARY KEY,
    name varchar(100) NOT NULL,
    vocabulary_id varchar(100)
);
CREATE TABLE package_tag (
    id text PRIMARY KEY,
    package_id text REFERENCES package(id),
    tag_id text REFERENCES tag(id),
    state text
);
CREATE TABLE package_extra (
    id text PRIMARY KEY,
    package_id text REFERENCES package(id),
    key text,
    value text,
    state text
);
CREATE TABLE package_member (
    package_id text NOT NULL REFERENCES package(id),
    user_id text NOT NULL REFERENCES "user"(id),
    capacity text NOT NULL,
    modified timestamp without time zone NOT NULL,
    PRIMARY KEY (package_id, user_id)
);
CREATE TABLE package_relationship (
    id text PRIMARY KEY,
    subject_package_id text REFERENCES package(id),
    object_package_id text REFERENCES package(id),
    type text,
    comment text,
    state text
);
CREATE TABLE resource_view (
    id text PRIMARY KEY,
    resource_id text REFERENCES resource(id) ON DELETE CASCADE ON UPDATE CASCADE,
    title text,
    description text,
    view_type text NOT NULL,
    "order" integer NOT NULL,
    config text
);
CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL PRIMARY KEY
);
CREATE TABLE activity (
    id text PRIMARY KEY,
    "timestamp" timestamp without time zone,
    user_id text,
    object_id text,
    revision_id text,
    activity_type text,
    data text
);
`

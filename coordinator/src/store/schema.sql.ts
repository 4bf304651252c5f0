/** Schema migrations, applied in order and recorded in `schema_migrations`. Never edit a shipped step. */
export const migrations: ReadonlyArray<string> = [
  `create table tasks (
     id text primary key,
     kind text not null,
     spec jsonb not null,
     initiator text not null,
     status text not null,
     attempt integer not null default 0,
     result jsonb,
     result_digest text,
     reason text,
     created_at timestamptz not null default now(),
     updated_at timestamptz not null default now()
   );
   create index tasks_status on tasks(status);
   create table task_events (
     id bigserial primary key,
     task_id text not null references tasks(id),
     type text not null,
     data jsonb not null,
     at timestamptz not null default now()
   );
   create index task_events_task on task_events(task_id, id);
   create table consents (
     task_id text not null references tasks(id),
     participant text not null,
     approve boolean not null,
     reason text not null,
     signature text not null,
     at timestamptz not null default now(),
     primary key (task_id, participant)
   );
   create table outbox (
     id bigserial primary key,
     event_id text not null unique,
     task_id text,
     op text not null,
     args jsonb not null,
     status text not null default 'pending',
     tx_hash text,
     block_number bigint,
     attempts integer not null default 0,
     last_error text,
     created_at timestamptz not null default now(),
     confirmed_at timestamptz
   );
   create index outbox_pending on outbox(status, id);`,
  // 2: protocol checkpoints (a multi-round task resumes from its last round after a restart) and the
  // content-addressed model store (coordinator/src/models/ModelStore.ts).
  `create table checkpoints (
     task_id text not null references tasks(id),
     key text not null,
     value jsonb not null,
     attempt integer not null,
     at timestamptz not null default now(),
     primary key (task_id, key)
   );
   create table models (
     id text primary key,
     format text not null,
     artifact jsonb not null,
     task_id text,
     created_at timestamptz not null default now()
   );`,
  // 3: governance (issue 7). The off-chain index of the consortium's chain events (catalogue, grants and their
  // use log, members, model requests), rebuilt from the deployment block and resumed from `chain_cursor`; and the
  // content-addressed artifact store (CIDv1, coordinator/src/artifacts/ArtifactStore.ts).
  `create table chain_cursor (
     name text primary key,
     block bigint not null
   );
   create table catalog (
     dataset_id text primary key,
     owner text not null,
     domain text not null,
     name text not null,
     attrs text not null,
     size bigint not null,
     content_hash text not null,
     location text not null,
     policy text not null,
     version integer not null,
     state text not null,
     block bigint not null,
     updated_at timestamptz not null default now()
   );
   create index catalog_owner on catalog(owner);
   create table grants (
     token_id text primary key,
     dataset_id text not null,
     requester text not null,
     owner text not null,
     purpose text not null,
     expiry bigint not null,
     max_uses integer not null,
     uses integer not null default 0,
     status text not null,
     block bigint not null
   );
   create table grant_uses (
     token_id text not null,
     task_id text not null,
     uses integer not null,
     block bigint not null,
     tx_hash text not null,
     primary key (token_id, uses)
   );
   create table members (
     company_id text primary key,
     name text not null,
     state text not null,
     addresses jsonb not null default '[]',
     block bigint not null
   );
   create table model_requests (
     req_id text primary key,
     dataset_id text not null,
     from_account text not null,
     to_account text not null,
     payload_hash text not null,
     payload_uri text not null,
     state text not null,
     result_hash text,
     result_uri text,
     block bigint not null
   );
   create table artifacts (
     cid text primary key,
     codec text not null,
     bytes bytea not null,
     task_id text,
     created_at timestamptz not null default now()
   );`,
  // 4: chain finality (issue 17). An outbox entry is 'sent' once its transaction is mined and 'confirmed' only
  // when enough blocks hold it; the block hash it was final in is kept for audits.
  `alter table outbox add column block_hash text;
   alter table outbox add column sent_at timestamptz`,
  // 5: the HTTP API's rules (issue 12): who stored an artifact and how large it is (per-member quota, reader rule),
  // and every prediction served under a grant (the coordinator counts uses the owner's on-chain log cannot).
  `alter table artifacts add column owner text;
   alter table artifacts add column size bigint;
   update artifacts set size = octet_length(bytes);
   create index artifacts_owner on artifacts(owner);
   create table grant_predictions (
     id bigserial primary key,
     token_id text not null,
     model_id text not null,
     caller text not null,
     rows integer not null,
     at timestamptz not null default now()
   );
   create index grant_predictions_token on grant_predictions(token_id)`,
  // 6: several coordinator instances over one store (issue 17). Each live instance holds a lease row it renews;
  // a task belongs to one instance at a time and carries a fencing token bumped at every claim, which every state
  // change of the task checks (coordinator/src/cluster/). Named leases (the outbox drainer, the chain index) carry
  // their own token. Single-use nonces of the socket handshake and of sign-in are spent here, so any instance can
  // check a nonce another issued. The socket.io Postgres adapter keeps payloads over NOTIFY's 8000 bytes in
  // socket_io_attachments (its own schema, created here so no instance needs DDL rights at run time).
  `create table coordinator_instances (
     id text primary key,
     url text,
     started_at timestamptz not null default now(),
     expires_at timestamptz not null
   );
   alter table tasks add column owner text;
   alter table tasks add column fence bigint not null default 0;
   create index tasks_owner on tasks(owner);
   create table leases (
     name text primary key,
     holder text not null,
     fence bigint not null,
     expires_at timestamptz not null
   );
   create table spent_nonces (
     nonce text primary key,
     expires_at timestamptz not null
   );
   create table cluster_secrets (
     name text primary key,
     value bytea not null
   );
   create table if not exists socket_io_attachments (
     id bigserial unique,
     created_at timestamptz default now(),
     payload bytea
   )`
]

interface Migratable {
  readonly query: (text: string, params?: ReadonlyArray<unknown>) => Promise<Array<any>>
  readonly transaction: <T>(body: (tx: Migratable) => Promise<T>) => Promise<T>
}

/**
 * Applies the missing steps in one transaction under an advisory lock: instances starting together over one
 * PostgreSQL wait for each other instead of racing to create the same tables.
 */
export const migrate = (sql: Migratable) =>
  sql.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(7370291)`)
    await tx.query(`create table if not exists schema_migrations (version integer primary key, applied_at timestamptz not null default now())`)
    const applied = new Set((await tx.query(`select version from schema_migrations`)).map((r: { version: number }) => r.version))
    for (const [index, step] of migrations.entries()) {
      if (applied.has(index + 1)) continue
      for (const statement of step.split(/;\s*\n/).map((s) => s.trim()).filter(Boolean)) await tx.query(statement)
      await tx.query(`insert into schema_migrations(version) values ($1)`, [index + 1])
    }
  })

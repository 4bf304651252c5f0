/**
 * Test helper: the cluster's NOTIFYs tapped at the publishing side, inside a real PostgreSQL. The socket.io Postgres
 * adapter publishes every message between coordinator instances with `SELECT pg_notify($1, $2)`; installed before
 * the coordinators connect, a `public.pg_notify` that the database's search_path puts ahead of the built-in
 * (pg_catalog named last) sees each publication first. It records those a watch pattern matches (the publishing
 * connection's application_name and the payload), swallows those a drop rule matches — the message is lost while
 * every listener stays up — and hands everything else to the built-in. The coordinators run unchanged.
 */
import pg from "pg"

export interface Published {
  readonly app: string
  readonly payload: string
}

const setup = `
  create table if not exists test_notify_watch(pattern text not null);
  create table if not exists test_notify_log(id bigserial primary key, app text not null, payload text not null);
  create table if not exists test_notify_drop(id bigserial primary key, app text not null, patterns text[] not null, remaining int not null);
  create or replace function public.pg_notify(ch text, body text) returns void language plpgsql as $fn$
  declare
    publisher text := current_setting('application_name');
    hit bigint;
  begin
    if exists (select 1 from test_notify_watch w where body like w.pattern) then
      insert into test_notify_log(app, payload) values (publisher, body);
    end if;
    update test_notify_drop set remaining = remaining - 1 where id = (
      select d.id from test_notify_drop d where d.remaining > 0 and publisher like d.app and body like all(d.patterns) order by d.id limit 1 for update
    ) returning id into hit;
    if hit is null then
      perform pg_catalog.pg_notify(ch, body);
    end if;
  end
  $fn$;
`

/** Installs the tap in the database of `url`; connections opened from now on publish through it. */
export const install = async (url: string) => {
  // A pool, not one client: a test may restart the server under it, and the next call takes a new connection.
  const admin = new pg.Pool({ connectionString: url, max: 1 })
  admin.on("error", () => {})
  const database = (await admin.query<{ db: string }>(`select current_database() as db`)).rows[0]!.db
  await admin.query(setup)
  await admin.query(`alter database "${database}" set search_path = "$user", public, pg_catalog`)
  return {
    /** Publications whose payload is LIKE `pattern` are recorded from now on. */
    watch: async (pattern: string) => void (await admin.query(`insert into test_notify_watch(pattern) values ($1)`, [pattern])),
    /** Everything recorded so far, in publishing order. */
    published: async (): Promise<Array<Published>> => (await admin.query<Published>(`select app, payload from test_notify_log order by id`)).rows,
    /**
     * Swallows the next `times` publications of a connection whose application_name is LIKE `app` and whose payload
     * is LIKE every one of `patterns`; the rule's id.
     */
    drop: async (app: string, patterns: ReadonlyArray<string>, times: number): Promise<number> =>
      Number((await admin.query<{ id: string }>(`insert into test_notify_drop(app, patterns, remaining) values ($1, $2, $3) returning id`, [app, patterns, times])).rows[0]!.id),
    /** How many more publications rule `id` would swallow. */
    remaining: async (id: number): Promise<number> => (await admin.query<{ remaining: number }>(`select remaining from test_notify_drop where id = $1`, [id])).rows[0]!.remaining,
    /** Rule `id` swallows nothing more. */
    stop: async (id: number) => void (await admin.query(`update test_notify_drop set remaining = 0 where id = $1`, [id])),
    /** Publishes `payload` again on `channel`, past the tap (a copy delivered twice). */
    republish: async (channel: string, payload: string) => void (await admin.query(`select pg_catalog.pg_notify($1, $2)`, [channel, payload])),
    close: () => admin.end()
  }
}

export type NotifyTap = Awaited<ReturnType<typeof install>>

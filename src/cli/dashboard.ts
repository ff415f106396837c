/**
 * `heimdall dashboard`: a small HTTP server (Effect's HTTP modules on `@effect/platform-node`'s `NodeHttpServer`)
 * with a JSON API over the queue's `Inspector`, optional operator actions, and one HTML page (dashboardPage.ts).
 *
 * The API (every body JSON; an error is `{ "error": <tag>, "message": <never empty> }` with its HTTP status):
 *
 *   GET  /api/config                  the queue's name, whether actions are on, the history's sampling period
 *   GET  /api/counts                  `Inspector.counts`
 *   GET  /api/history                 counts sampled by the server every few seconds (the last 15 minutes): the
 *                                     page derives throughput from successive totals
 *   GET  /api/tasks?state=S&name=N&limit=L&cursor=C   `Inspector.tasks` (400 on a bad state, limit, name, cursor)
 *   GET  /api/tasks/:id               `Inspector.task` (404 when there is no such task)
 *   GET  /api/workers                 `Inspector.workers`
 *   GET  /api/locks?prefix=P          `Inspector.locks`
 *   GET  /api/limits?prefix=P         `Inspector.limits`: rate limits (admitted in the window, booked, next free
 *                                     slot) and concurrency limits (holders, lease ends); a limit itself is known
 *                                     only where this process called its key: elsewhere `limits: []`, no
 *                                     `nextFreeAt`
 *   POST /api/tasks/:id/retry         `Admin.retry`  } actions: 403 unless the server runs with actions on; then
 *   POST /api/tasks/:id/cancel        `Admin.cancel` } 401 without `Authorization: Bearer <token>`, 403 with a
 *                                                      wrong one; 404 no such task, 409 not in a state that allows it
 *
 * Redis failing is 503. Requests whose `Host` is not a loopback name are refused (403) while the server listens on
 * a loopback address (a DNS-rebinding page cannot read the API). A further read is one more entry in `readRoutes`
 * and one more section in the page's `sections`.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Cause, Effect, Layer, Ref, Schedule } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Inspector from "../Inspector.ts"
import * as validate from "../internal/validate.ts"
import { page } from "./dashboardPage.ts"

/** What an action route may call: the operator actions of one queue. */
export interface Actions {
  readonly retry: (id: string) => Effect.Effect<unknown, unknown>
  readonly cancel: (id: string) => Effect.Effect<unknown, unknown>
}

/** How the dashboard serves. */
export interface Options {
  readonly port: number
  readonly host: string
  /** Operator actions and the token they require; `undefined`: actions are off (403). */
  readonly actions: { readonly token: string; readonly admin: Actions } | undefined
  /** How often the server reads the counts for the history (default 5 s). */
  readonly sampleEveryMillis?: number | undefined
  /** How much history it keeps (default 15 minutes). */
  readonly historyMillis?: number | undefined
}

/** A token for `--allow-actions` without `--token`: 128 random bits, URL-safe. */
export const generateToken = (): string => randomBytes(16).toString("base64url")

/** A JSON response; errors carry `{ error, message }`. */
const json = (body: unknown, status = 200) =>
  HttpServerResponse.jsonUnsafe(body, { status, headers: { "cache-control": "no-store" } })

const problem = (status: number, error: string, message: string) =>
  json({ error, message: message === "" ? `${error} (HTTP ${status})` : message }, status)

/** The HTTP status and body of a typed error of a read or an action (anything else is a 500). */
const errorResponse = (error: unknown): HttpServerResponse.HttpServerResponse => {
  const tag =
    typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
      ? error._tag
      : "InternalError"
  const message = error instanceof Error ? error.message : String(error)
  // the typed error's own fields (a task id, the state found) travel with it
  const fields =
    typeof error === "object" && error !== null
      ? Object.fromEntries(
          Object.entries(error).filter(([key, value]) => key !== "_tag" && key !== "cause" && typeof value !== "object")
        )
      : {}
  const reply = (status: number, error: string, message: string) =>
    json({ ...fields, error, message: message === "" ? `${error} (HTTP ${status})` : message }, status)
  switch (tag) {
    case "InvalidArgument":
      return reply(400, tag, message)
    case "TaskNotFound":
      return reply(404, tag, message)
    case "TaskStateConflict":
    case "AlreadyQueued":
      return reply(409, tag, message)
    case "RedisError":
      return reply(503, tag, `Redis failed: ${message}`)
    default:
      return reply(500, tag, message)
  }
}

/** Runs a handler; its typed failures and defects become JSON error responses. */
const handle = <E, R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  effect.pipe(
    Effect.catchCause((cause) =>
      Effect.succeed(
        Cause.hasInterruptsOnly(cause)
          ? problem(503, "Interrupted", "the request was interrupted")
          : errorResponse(Cause.squash(cause))
      )
    )
  )

const param = (name: string) => Effect.map(HttpRouter.params, (params) => params[name] ?? "")

const search = Effect.map(HttpServerRequest.ParsedSearchParams, (params) => (name: string) => {
  const value = params[name]
  return Array.isArray(value) ? value[0] : value
})

const sameSecret = (given: string, expected: string) =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest())

const loopbackHosts = new Set(["127.0.0.1", "localhost", "[::1]", "::1"])

const isLoopback = (host: string) => loopbackHosts.has(host) || host.startsWith("127.")

/** The `Host` header's name without the port. */
const hostName = (header: string) =>
  header.startsWith("[") ? header.slice(0, header.indexOf("]") + 1) : (header.split(":")[0] ?? "")

interface Sample {
  readonly at: number
  readonly succeeded: number
  readonly failed: number
  readonly dead: number
  readonly skipped: number
}

/** The routes of the API and the page, for the Inspector in context. */
const routes = (options: Options, history: Ref.Ref<ReadonlyArray<Sample>>, sampleEveryMillis: number) =>
  Effect.gen(function* () {
    const inspector = yield* Inspector.Inspector
    const read = <A, E>(
      path: HttpRouter.PathInput,
      effect: Effect.Effect<A, E, HttpRouter.RouteContext | HttpServerRequest.ParsedSearchParams>
    ) => HttpRouter.route("GET", path, handle(Effect.map(effect, (body) => json(body))))

    const action = (name: keyof Actions) =>
      HttpRouter.route(
        "POST",
        `/api/tasks/:id/${name}`,
        handle(
          Effect.gen(function* () {
            if (options.actions === undefined) {
              return problem(403, "ActionsDisabled", "actions are off: start the dashboard with --allow-actions")
            }
            const request = yield* HttpServerRequest.HttpServerRequest
            const header = request.headers.authorization ?? ""
            if (!header.startsWith("Bearer ") || header.length === "Bearer ".length) {
              return problem(
                401,
                "Unauthorized",
                "actions need the token: send the header Authorization: Bearer <token>"
              )
            }
            if (!sameSecret(header.slice("Bearer ".length), options.actions.token)) {
              return problem(403, "Forbidden", "wrong token")
            }
            const id = yield* param("id")
            yield* options.actions.admin[name](id)
            return json({ id, action: name, detail: yield* inspector.task(id) })
          })
        )
      )

    const readRoutes = [
      read(
        "/api/config",
        Effect.succeed({ queue: inspector.queue, actions: options.actions !== undefined, sampleEveryMillis })
      ),
      read("/api/counts", inspector.counts),
      read(
        "/api/history",
        Effect.map(Ref.get(history), (samples) => ({ sampleEveryMillis, samples }))
      ),
      read(
        "/api/tasks",
        Effect.flatMap(search, (get) => {
          const limit = get("limit")
          // the Inspector checks the state, the name, the cursor and the limit's range (InvalidArgument: a 400)
          return limit !== undefined && !/^\d+$/.test(limit)
            ? Effect.fail(validate.invalid("limit", limit, `must be an integer from 1 to ${Inspector.maxLimit}`))
            : inspector.tasks({
                state: get("state") as Inspector.TasksQuery["state"],
                name: get("name"),
                limit: limit === undefined ? undefined : Number(limit),
                cursor: get("cursor")
              })
        })
      ),
      HttpRouter.route(
        "GET",
        "/api/tasks/:id",
        handle(
          Effect.gen(function* () {
            const id = yield* param("id")
            const detail = yield* inspector.task(id)
            return detail === undefined
              ? problem(404, "TaskNotFound", `no task ${id} in queue "${inspector.queue}"`)
              : json(detail)
          })
        )
      ),
      read("/api/workers", inspector.workers),
      read(
        "/api/locks",
        Effect.flatMap(search, (get) => inspector.locks(get("prefix") ?? ""))
      ),
      read(
        "/api/limits",
        Effect.flatMap(search, (get) => inspector.limits(get("prefix") ?? ""))
      )
    ]
    return [
      ...readRoutes,
      action("retry"),
      action("cancel"),
      HttpRouter.route("*", "/api/*", (request) =>
        Effect.succeed(problem(404, "NotFound", `no API route ${request.method} ${request.url}`))
      ),
      HttpRouter.route(
        "GET",
        "/",
        HttpServerResponse.html(page).pipe(
          HttpServerResponse.setHeaders({
            "cache-control": "no-store",
            "x-frame-options": "DENY",
            "content-security-policy":
              "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
          })
        )
      )
    ] as const
  })

/**
 * The dashboard's server on `options.host:options.port` (port 0: any free one; the `HttpServer`'s `address` says
 * which), for the `Inspector` in context, while the layer is in scope. It samples the counts for the history
 * meanwhile.
 */
export const layer = (options: Options) => {
  const sampleEveryMillis = options.sampleEveryMillis ?? 5000
  const historyMillis = options.historyMillis ?? 15 * 60_000
  const loopbackOnly = isLoopback(options.host)
  const guardHost = <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const host = hostName(request.headers.host ?? "")
      return loopbackOnly && !isLoopback(host)
        ? Effect.succeed(
            problem(403, "Forbidden", `host ${JSON.stringify(host)} refused: the dashboard serves loopback names only`)
          )
        : app
    })
  const app = Layer.unwrap(
    Effect.gen(function* () {
      const inspector = yield* Inspector.Inspector
      const history = yield* Ref.make<ReadonlyArray<Sample>>([])
      const sample = Effect.flatMap(inspector.counts, ({ now, total }) =>
        Ref.update(history, (samples) => [
          ...samples.filter((s) => s.at > now - historyMillis),
          { at: now, succeeded: total.succeeded, failed: total.failed, dead: total.dead, skipped: total.skipped }
        ])
      ).pipe(Effect.ignore)
      yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced(sampleEveryMillis)))
      return HttpRouter.addAll(routes(options, history, sampleEveryMillis))
    })
  )
  return HttpRouter.serve(app, {
    disableLogger: true,
    disableListenLog: true,
    middleware: (effect) => guardHost(effect)
  }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(() => createServer(), {
        port: options.port,
        host: options.host,
        gracefulShutdownTimeout: "1 second"
      })
    )
  )
}

/** The URL to open: the bound address, and the token in the fragment (never sent to the server) when actions are on. */
export const url = (address: HttpServer.HttpServer["Service"]["address"], token: string | undefined): string => {
  const base = `${HttpServer.formatAddress(address)}/`
  return token === undefined ? base : `${base}#token=${encodeURIComponent(token)}`
}

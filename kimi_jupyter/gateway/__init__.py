"""`kimi-jupyter gateway`: a JupyterHub service that holds a classroom's Moonshot key.

A teacher's hub runs it as a hub-managed service (`c.JupyterHub.services`); the
key lives only in the service's environment. Students' servers get
`KIMI_BASE_URL` pointing at it and their own hub API token as `KIMI_API_KEY`
(`c.Spawner.environment`), so the client's key-scoping rules send that token to
the gateway's host and nowhere else. The gateway checks the token with the hub
(`jupyterhub.services.auth`), keeps each student inside a daily budget per
course and a concurrency limit, forwards the request to Moonshot (or any
OpenAI-compatible upstream) and streams the answer back unchanged.

- `store`: usage and budgets in SQLite, or any SQLAlchemy database shared by replicas;
- `meter`: the usage and cost of an answer, read from the stream as it passes;
- `app`: the tornado service: the forwarding API under `v1/`, the instructors' page.

It imports the project's `core/` (the catalog, the stream's `Usage`, cassettes), never IPython.
"""

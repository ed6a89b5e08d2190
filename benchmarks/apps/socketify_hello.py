"""socketify hello app (uWebSockets with a Python API), as socketify's docs write it."""

import os

from socketify import App, AppListenOptions

app = App()
app.get("/", lambda res, req: res.end("Hello, World!"))

if __name__ == "__main__":
    options = AppListenOptions(port=int(os.environ["BENCH_PORT"]), host=os.environ["BENCH_HOST"])
    app.listen(options, lambda config: print(f"listening on {config.host}:{config.port}", flush=True))
    app.run()

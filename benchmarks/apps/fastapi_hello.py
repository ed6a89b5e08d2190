"""FastAPI hello app (as FastAPI's docs write it), run by uvicorn with uvloop + httptools."""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/", response_class=PlainTextResponse)
async def index():
    return "Hello, World!"

"""A bare FastAPI endpoint under the same server settings: the yardstick for POST /v1/calls."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

app = FastAPI()


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str


@app.post("/bare", status_code=201)
async def bare(body: Body) -> dict[str, Any]:
    return {"id": uuid.uuid4(), "phone": body.phone, "created_at": datetime.now(UTC)}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)

"""GET /api/health: liveness plus what is loaded (embedder, weights, index counts, versions)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from app.deps import ServicesDep
from app.schemas import Health

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=Health)
def health(services: ServicesDep) -> Health:
    manifest = services.collection.manifest
    index = {"path": str(services.collection.root), "models": len(services.searcher.models),
             "views": services.searcher.vectors.ntotal, "faiss_factory": manifest["faiss_factory"],
             "view_spacing_deg": round(services.searcher.view_spacing_deg, 2),
             "views_config": manifest["views"], "created_at": manifest.get("created_at")}
    return Health(status="ok", embedder=asdict(services.embedder.info), index=index,
                  versions=manifest.get("versions", {}))

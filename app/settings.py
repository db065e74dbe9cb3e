"""Service and CLI configuration: one pydantic-settings object, environment prefix PHOTO2CAD_."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.calibration import SHIPPED_DIR as SHIPPED_CALIBRATIONS
from index.collection import ViewConfig


class Settings(BaseSettings):
    """Every setting can be given as an environment variable, e.g. PHOTO2CAD_EMBEDDER=inception_v3."""

    model_config = SettingsConfigDict(env_prefix="PHOTO2CAD_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Catalogue, weights, HDRIs and indexes live here.")
    index_dir: Path | None = Field(None, description="Index folder; default data_dir/index/<embedder>.")
    weights_dir: Path | None = Field(None, description="Converted weights; default data_dir/weights.")
    embedder: str = Field("lite0_finetuned", description="lite0_finetuned (Lite0 with fine-tuned top blocks, "
                          "best on real photographs), efficientnet_lite0, inception_v3, scratch_cnn or lite0_adapter.")
    embedder_layer: str | None = Field(None, description="Backbone layer to pool; default per backbone.")
    weights_file: Path | None = Field(None, description="Keras weights file overriding the default.")
    scratch_model_dir: Path | None = Field(None, description="Trained scratch_cnn folder; default "
                                           "data_dir/models/scratch_cnn if trained, else the shipped one.")
    detector: bool = Field(True, description="Find the seats first and answer each (false: the whole image).")
    detector_dir: Path | None = Field(None, description="Seat detector weights; default weights_dir/detector.")
    detector_tiles: bool = Field(True, description="Search windows of the photo for seats as well as the whole "
                                 "photo (models.tiles; false: the whole photo only, about 7x less detector time).")
    adapter_model_dir: Path | None = Field(None, description="Trained lite0_adapter folder; default "
                                           "data_dir/models/lite0_adapter if trained, else the shipped one.")
    finetuned_model_dir: Path | None = Field(None, description="Trained lite0_finetuned folder; default "
                                             "data_dir/models/lite0_finetuned if trained, else the shipped one.")
    kind_head: bool = Field(True, description="Answer seat kinds with the embedder's seat-kind head fitted on "
                            "photo-like renders (models/kind_head.py) when one fits it (false: the classifier "
                            "fitted on the index's views).")
    kind_head_file: Path | None = Field(None, description="Seat-kind head file; default the one shipped for the "
                                        "embedder (models/artifacts/kind_heads/<embedder>.npz).")
    view_head: bool = Field(True, description="Weigh each model's retrieved views for the pose by the embedder's "
                            "viewpoint head when it has one that fits the index's grid (index/view_prior.py; "
                            "false: retrieval alone).")
    view_head_mirror: bool = Field(True, description="Read the viewpoint head on each seat crop and on its "
                                   "mirror image, and combine the two (index/view_prior.py, 'Mirror "
                                   "averaging'; one more embedding per seat; false: the crop alone).")
    kind_cues: bool = Field(True, description="Weigh in what ImageNet's classifier sees in each seat crop (a desk, "
                            "a studio couch) as seat-kind evidence (index/kind_cues.py; the rest of a Lite0 pass per "
                            "seat on the embedder's trunk; embedders without their own ImageNet classifier get "
                            "none; false: off).")
    allow_download: bool = Field(False, description="Let Keras download ImageNet weights if needed.")
    faiss_factory: str = Field("Flat", description="FAISS index_factory string (inner product).")
    faiss_ef_search: int = Field(64, ge=1, description="HNSW efSearch (FAISS uses max(efSearch, k); the "
                                 "service asks k >= 256 neighbours).")
    faiss_nprobe: int = Field(32, ge=1, description="IVF lists visited per search.")
    view_size_px: int = Field(224, ge=32, le=1024)
    view_sampling: str = Field("icosphere", description="icosphere or montecarlo.")
    view_count: int = Field(2, ge=0, description="Icosphere subdivision level, or Monte Carlo count.")
    polar_min_deg: float = Field(20.0, ge=0.0, le=180.0)
    polar_max_deg: float = Field(90.0, ge=0.0, le=180.0)
    render_workers: int = Field(2, ge=0, description="Render processes (0 = in-process).")
    include_nonfree: bool = Field(False, description="Also index sweethome3d-furniture-nonfree.")
    catalogue_sources: list[str] | None = Field(None, description="Sources of the default catalogue, by name "
                                                "(sweethome3d, homedecor, packs); default all.")
    default_top_k: int = Field(5, ge=1, le=100)
    max_top_k: int = Field(50, ge=1)
    batching: bool = Field(True, description="Embed and search concurrent queries together (micro-batching).")
    batch_max_size: int = Field(16, ge=1, le=256, description="Most queries per forward pass or search.")
    batch_max_wait_ms: float = Field(2.0, ge=0.0, le=100.0, description="Longest wait for more queries to "
                                     "join a batch, only taken while recent batches were larger.")
    max_upload_bytes: int = Field(20 * 1024 * 1024, description="Uploads above this get 413.")
    max_image_pixels: int = Field(40_000_000, ge=64, description="Most pixels an upload may declare; "
                                  "non-JPEG and progressive JPEG uploads get less when their byte size is "
                                  "small (models/photo.py).")
    max_image_aspect: float = Field(8.0, ge=1.0, description="Uploads more elongated than this get 400.")
    photo_max_side_px: int = Field(1280, ge=32, le=8192, description="Photos are decoded (JPEGs at reduced "
                                   "size) and shrunk to this longest side before anything else.")
    api_key: str | None = Field(None, description="Key for POST/DELETE /api/admin/models and /api/admin/reload "
                                "(header X-API-Key); those endpoints are disabled while it is unset.")
    pose_calibration: Path | None = Field(None, description="Pose error-bar calibration (JSON); default "
                                          "the one shipped for the embedder (index/calibrations/), if any.")
    refine_workers: int = Field(1, ge=1, le=8, description="Render workers for `refine` requests.")
    refine_queue: int = Field(2, ge=0, le=64, description="Refine requests that may wait for a worker; "
                              "more are answered unrefined at once (refine_status busy).")
    reload_interval_s: float = Field(0.0, ge=0.0, description="Check this often (seconds) whether another "
                                     "process changed the index (CLI, another replica) and reload it; "
                                     "0 = only on POST /api/admin/reload.")
    cors_origins: list[str] = Field(default_factory=list)
    log_level: str = Field("INFO", description="Level of the JSON access log (one line per request).")

    def model_post_init(self, context: object) -> None:
        self.index_dir = self.index_dir or self.data_dir / "index" / self.embedder
        self.weights_dir = self.weights_dir or self.data_dir / "weights"
        self.detector_dir = self.detector_dir or self.weights_dir / "detector"

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir

    @property
    def pose_calibration_path(self) -> Path:
        return self.pose_calibration or SHIPPED_CALIBRATIONS / f"{self.embedder}.json"

    @property
    def trained_scratch_dir(self) -> Path:
        """Where `photo2cad train` writes by default."""
        return self.data_dir / "models" / "scratch_cnn"

    @property
    def trained_adapter_dir(self) -> Path:
        """Where `photo2cad train-adapter` writes by default."""
        return self.data_dir / "models" / "lite0_adapter"

    @property
    def trained_finetuned_dir(self) -> Path:
        """Where `photo2cad train-finetune` writes by default."""
        return self.data_dir / "models" / "lite0_finetuned"

    @property
    def catalogue_dir(self) -> Path:
        return self.data_dir / "catalogue"

    @property
    def packages_dir(self) -> Path:
        return self.data_dir / "packages"

    def view_config(self) -> ViewConfig:
        return ViewConfig(size_px=self.view_size_px, sampling=self.view_sampling, count=self.view_count,
                          polar_min_deg=self.polar_min_deg, polar_max_deg=self.polar_max_deg)


class SettingsError(ValueError):
    """A PHOTO2CAD_ variable (or .env entry) that does not parse; the message is one line."""


@lru_cache
def get_settings() -> Settings:
    """The settings from the environment; SettingsError names each bad variable and its value."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError("; ".join(_bad_setting(e) for e in error.errors())) from None


def _bad_setting(error: dict) -> str:
    name = "PHOTO2CAD_" + "_".join(str(part) for part in error["loc"][:1]).upper()
    return f"{name}={error.get('input')!r}: {error['msg']}"

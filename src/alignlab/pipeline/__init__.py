"""The pipeline, the main job: scalable training, validation and stress test on real
models, ending in one self-contained HTML report (``alignlab pipeline``, ``make demo``).

    from alignlab.pipeline import PipelineConfig, run_pipeline
    record = run_pipeline(PipelineConfig(seeds=(0, 1)))   # record.path / "report.html"
"""

from alignlab.pipeline._config import PipelineConfig, pipeline_record_config
from alignlab.pipeline._run import PipelineFailed, run_pipeline

__all__ = ["pipeline_record_config", "PipelineConfig", "PipelineFailed", "run_pipeline"]

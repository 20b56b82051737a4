"""Evaluation tasks (lm-evaluation-harness conventions) for dense and sparsified models."""

from .analogies import AnalogiesTask
from .base import EvalContext, Task, TaskResult, retention, score_from
from .cloze import ClozeTask
from .multiple_choice import MultipleChoiceTask
from .perplexity import PerplexityTask
from .suite import BUDGETS, SUITES, build_suite, build_task, expand

__all__ = ["AnalogiesTask", "EvalContext", "Task", "TaskResult", "retention", "score_from", "ClozeTask",
           "MultipleChoiceTask", "PerplexityTask", "BUDGETS", "SUITES", "build_suite", "build_task", "expand"]

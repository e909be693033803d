"""The Azure facts shared by the generated bicep and the SDK provisioning code: ONE place.

Data only (no imports of Azure SDKs, no logic beyond trivial lookups): the bicep templates under
``scaffolds/templates/project/infra/provision/`` are rendered from these values, and
``infra/azure`` builds its SDK request bodies from the same values, so both paths create the
same resources with the same properties. Change a value here and both follow.
"""
from __future__ import annotations

# API versions: the ones the installed SDKs send (azure-mgmt-appcontainers 5.1.0,
# azure-mgmt-storage 25.x, azure-mgmt-loganalytics 14.0), so a bicep deployment and an SDK run
# speak the same resource shape.
API_VERSIONS = {
    "Microsoft.Storage": "2026-09-01",
    "Microsoft.OperationalInsights": "2025-07-01",
    "Microsoft.App": "2026-07-01",
}

# Default resource names: prefix + resourceSuffix (AI Toolkit's prefixes), where the bicep computes
# resourceSuffix = substring(uniqueString(toLower(subscription().subscriptionId),
#                  toLower(resourceGroup().name), toLower(projectName)), 0, 5)
# and infra/azure/names.py computes the same with ARM's exact uniqueString (infra/azure/uniquestring.py).
# AI Toolkit hashes resourceGroup().id alone; the project name is added so two projects in one
# resource group get their own resources. PROJECT_NAME_PARAMETER is written into both parameters files.
PROJECT_NAME_PARAMETER = "projectName"
NAME_PREFIXES = {
    "storageAccountName": "aistorage",
    "fileShareName": "aifileshare",
    "acaEnvironmentName": "aienv",
    "acaEnvironmentStorageName": "aienvstorage",
    "acaJobName": "aiacajob",
    "acaAppName": "aiacaapp",
    "acaLogAnalyticsName": "ailog",
}
RESOURCE_SUFFIX_LENGTH = 5

# Storage account + share
STORAGE_SKU = "Standard_LRS"
STORAGE_KIND = "StorageV2"
STORAGE_MIN_TLS = "TLS1_2"
SHARE_QUOTA_GIB = 1024
SHARE_SOFT_DELETE_DAYS = 7
SHARE_ACCESS_MODE = "ReadWrite"

# Log Analytics
LOG_ANALYTICS_SKU = "PerGB2018"
LOG_RETENTION_DAYS = 30

# Container Apps environment: a Consumption profile plus one GPU profile named GPU_PROFILE_NAME.
CONSUMPTION_PROFILE_NAME = "Consumption"
GPU_PROFILE_NAME = "GPU"
# cpu / memory the one container asks for, per GPU workload profile type (the whole node:
# serverless GPU gives the first container the GPU; no fractional replicas).
GPU_PROFILES = {
    "Consumption-GPU-NC8as-T4": {"cpu": 8, "memory": "56Gi", "gpu": "T4", "gpu_memory_gb": 16, "serverless": True},
    "Consumption-GPU-NC24-A100": {"cpu": 24, "memory": "220Gi", "gpu": "A100", "gpu_memory_gb": 80, "serverless": True},
    # Dedicated profile (AI Toolkit's original): billed per node while it runs; min/max counts.
    "NC24-A100": {"cpu": 24, "memory": "220Gi", "gpu": "A100", "gpu_memory_gb": 80, "serverless": False},
}
DEFAULT_GPU_PROFILE = "Consumption-GPU-NC8as-T4"
DEDICATED_MINIMUM_COUNT = 0  # scale to zero when idle

# Containers
# A CUDA runtime image with Python 3.11; the project's setup/requirements.txt (pip) brings the
# exact torch/transformers pins, so the image's own torch version does not matter.
DEFAULT_IMAGE = "docker.io/pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime"
MOUNT_PATH = "/mount"
VOLUME_NAME = "share"
JOB_CONTAINER_NAME = "finetuning"
APP_CONTAINER_NAME = "inference"
SHELL_PREFIX = ["/bin/bash", "-c"]
FAIL_FAST = "set -euo pipefail; "  # + ' && '.join(commands): the first failing step ends the run
COMMAND_JOIN = " && "
ENV = {
    "PIP_CACHE_DIR": MOUNT_PATH + "/.cache/pip",  # restarts reuse the pip cache on the share
    "PYTHONUNBUFFERED": "1",  # log lines reach the log stream as they are printed
}

# Fine-tuning job
DEFAULT_TIMEOUT_S = 10800  # replicaTimeout (AI Toolkit's default: 3 h)
MIN_TIMEOUT_S = 60
JOB_RETRY_LIMIT = 0
DEFAULT_MAXIMUM_INSTANCE_COUNT = 2  # >= 2: a job and an inference replica can run side by side

# Inference app
INFERENCE_PORT = 7860
HEALTH_PATH = "/health"
INFERENCE_MIN_REPLICAS = 0
# The app's bearer key: an ACA secret (lowercase name) exposed as this env var.
INFERENCE_API_KEY_ENV = "INFERENCE_API_KEY"
INFERENCE_API_KEY_SECRET = "inference-api-key"  # scale to zero: dependencies come from the pip cache on the share
# Probe timings. The startup probe allows first start-up (pip install + model load) up to
# STARTUP_PERIOD_S * STARTUP_FAILURES seconds after STARTUP_DELAY_S (ACA caps: delay <= 60,
# period <= 240, failures <= 10).
STARTUP_DELAY_S = 60
STARTUP_PERIOD_S = 120
STARTUP_FAILURES = 10
PROBE_PERIOD_S = 10
PROBE_FAILURES = 3

"""Installs the BERT fine-tuning modules as top-level imports, as the original laid them out."""

from setuptools import setup

setup(
    name="bert-estimator",
    version="0.1.0",
    description="Google's BERT run_classifier, rebuilt for TensorFlow 2.15 (tf.compat.v1 Estimator)",
    python_requires=">=3.9,<3.12",
    py_modules=[
        "modeling",
        "tokenization",
        "optimization",
        "run_classifier",
        "classifier_data",
        "classifier_metrics",
        "reports",
        "serving",
        "demo",
        "convert_checkpoint",
        "assets",
        "predict",
        "distribution",
    ],
    packages=["processors"],
    install_requires=[
        "tensorflow==2.15.1",
        "numpy==1.26.4",
        "tensorflow-hub==0.15.0",
        "absl-py",
        "pandas",
        "scikit-learn",
        "matplotlib",
    ],
    license="Apache-2.0",
)

"""Installs the original's modules under their own names, the `bert_estimator` package and
the console commands, and no other top-level name.

    modeling, tokenization, optimization, run_classifier   # as google-research/bert lays them out
    processors                                             # the dataset readers run_classifier uses
    bert_estimator                                         # everything this project adds
"""

from setuptools import find_packages, setup

setup(
    name="bert-estimator",
    version="0.2.0",
    description="Google's BERT run_classifier, rebuilt for TensorFlow 2.15 (tf.compat.v1 Estimator)",
    python_requires=">=3.10,<3.12",  # TensorFlow 2.15.1: 3.9-3.11; scipy 1.14.1 (constraints.txt): >= 3.10
    py_modules=["modeling", "tokenization", "optimization", "run_classifier"],
    packages=find_packages(include=["processors", "bert_estimator", "bert_estimator.*"]),
    entry_points={
        "console_scripts": [
            "bert-run-classifier = run_classifier:cli",
            "bert-predict = bert_estimator.serving.predict_cli:main",
            "bert-convert-checkpoint = bert_estimator.convert.convert_cli:main",
            "bert-demo = bert_estimator.tools.demo:main",
            "bert-gpu-check = bert_estimator.tools.gpu_check:main",
            "bert-fetch = bert_estimator.tools.fetch:main",
        ],
    },
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

"""keras-nas: Neural Architecture Search for Keras, aimed at phones and microcontrollers."""

from setuptools import setup

setup(
    name="keras-nas",
    version="0.1.0",
    description=(
        "Hardware-aware Neural Architecture Search for Keras 3: search under flash, "
        "RAM and latency limits measured on LiteRT and TFLite Micro, export int8 models."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "keras_nas",
        "keras_nas.strategies",
        "keras_nas.weight_sharing",
        "keras_nas.blocks",
        "keras_nas.tflite",
    ],
    # The design card keeps the search space and the converter in their own top-level
    # folders; they install as sub-packages of keras_nas.
    package_dir={
        "keras_nas": "keras_nas",
        "keras_nas.strategies": "keras_nas/strategies",
        "keras_nas.weight_sharing": "keras_nas/weight_sharing",
        "keras_nas.blocks": "blocks",
        "keras_nas.tflite": "tflite",
    },
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "keras-tuner>=1.4.7",
        # keras-tuner imports tensorboard under the TF backend; TF >= 2.21 no longer installs it.
        "tensorboard",
        "ai-edge-litert",
        # Only pre-releases exist on PyPI; this spec admits them for this package alone.
        "tflite-micro>=0.dev0",
        "tensorflow-model-optimization",
        "tf-keras",
        "scikit-learn",
        "scipy",
        "matplotlib",
        "pyyaml",
        "mnist1d",
        "numpy",
    ],
    entry_points={"console_scripts": ["keras-nas = keras_nas.cli:main"]},
    extras_require={
        # nbclient/nbformat/ipykernel execute the notebooks in the tests; pytest-xdist
        # runs test files on both cores of a CI machine (TensorFlow's tracing is single-threaded).
        "test": ["pytest", "pytest-xdist", "hypothesis", "nbclient", "nbformat", "ipykernel"],
        "distributed": ["grpcio", "protobuf"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "License :: OSI Approved :: Apache Software License",
    ],
    license="Apache-2.0",
)

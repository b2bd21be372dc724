from setuptools import find_packages, setup

setup(
    name="mpcstats",
    version="0.1.0",
    description="Joint statistics across hospitals by secure multi-party computation",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["mpcstats", "mpcstats.*"]),
    package_data={"mpcstats": ["py.typed"]},
    entry_points={"console_scripts": ["mpcstats = mpcstats.cli:main"]},
    install_requires=[
        "numpy>=1.26",
        "gmpy2>=2.1",
        "cryptography>=42",
        "mpyc==0.11",
        "protobuf>=7.35.1",  # the generated code checks the runtime version
        "grpcio>=1.85.1",
        "grpcio-health-checking>=1.85.1",
        "tqdm>=4.60",
        "pandas>=2.0",
        "sqlalchemy>=2.0",
        "psycopg[binary]>=3.1",  # PostgreSQL sources
        "pyarrow>=14",  # Parquet sources
        "matplotlib>=3.7",
        "scipy>=1.11",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "pytest-benchmark>=4",
            "pytest-timeout>=2",
            "hypothesis>=6",
            "cloudpickle>=3",  # the protocol tests' programs, sent to the party processes
            "statsmodels>=0.14",
            "ruff>=0.6",
            "mypy>=1.10",
            "grpcio-tools==1.85.1",  # pinned: scripts/check_protos.sh reproduces mpcstats/transport/_proto
        ],
    },
)

from mpcstats.transport._proto.v1 import peer_pb2 as _peer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Policy(_message.Message):
    __slots__ = ("k", "allow_extremes", "max_parameter_fraction", "max_quantile_levels")
    K_FIELD_NUMBER: _ClassVar[int]
    ALLOW_EXTREMES_FIELD_NUMBER: _ClassVar[int]
    MAX_PARAMETER_FRACTION_FIELD_NUMBER: _ClassVar[int]
    MAX_QUANTILE_LEVELS_FIELD_NUMBER: _ClassVar[int]
    k: int
    allow_extremes: bool
    max_parameter_fraction: float
    max_quantile_levels: int
    def __init__(self, k: _Optional[int] = ..., allow_extremes: _Optional[bool] = ..., max_parameter_fraction: _Optional[float] = ..., max_quantile_levels: _Optional[int] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "schema_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    schema_json: str
    def __init__(self, name: _Optional[str] = ..., schema_json: _Optional[str] = ...) -> None: ...

class PartyInfo(_message.Message):
    __slots__ = ("party", "index", "parties", "helper", "datasets", "policy", "version")
    PARTY_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    HELPER_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    party: str
    index: int
    parties: _containers.RepeatedScalarFieldContainer[str]
    helper: bool
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    policy: Policy
    version: str
    def __init__(self, party: _Optional[str] = ..., index: _Optional[int] = ..., parties: _Optional[_Iterable[str]] = ..., helper: _Optional[bool] = ..., datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ..., version: _Optional[str] = ...) -> None: ...

class RunRequest(_message.Message):
    __slots__ = ("session_id", "dataset", "method", "arguments_json", "policy", "schema_json")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_JSON_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    dataset: str
    method: str
    arguments_json: str
    policy: Policy
    schema_json: str
    def __init__(self, session_id: _Optional[str] = ..., dataset: _Optional[str] = ..., method: _Optional[str] = ..., arguments_json: _Optional[str] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ..., schema_json: _Optional[str] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("rounds", "bytes_sent")
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    BYTES_SENT_FIELD_NUMBER: _ClassVar[int]
    rounds: int
    bytes_sent: int
    def __init__(self, rounds: _Optional[int] = ..., bytes_sent: _Optional[int] = ...) -> None: ...

class OutputShare(_message.Message):
    __slots__ = ("name", "frac", "share")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FRAC_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    name: str
    frac: int
    share: _peer_pb2.Tensor
    def __init__(self, name: _Optional[str] = ..., frac: _Optional[int] = ..., share: _Optional[_Union[_peer_pb2.Tensor, _Mapping]] = ...) -> None: ...

class Output(_message.Message):
    __slots__ = ("shares", "public_json", "degree", "modulus_bits", "totals")
    SHARES_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_JSON_FIELD_NUMBER: _ClassVar[int]
    DEGREE_FIELD_NUMBER: _ClassVar[int]
    MODULUS_BITS_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    shares: _containers.RepeatedCompositeFieldContainer[OutputShare]
    public_json: str
    degree: int
    modulus_bits: int
    totals: Progress
    def __init__(self, shares: _Optional[_Iterable[_Union[OutputShare, _Mapping]]] = ..., public_json: _Optional[str] = ..., degree: _Optional[int] = ..., modulus_bits: _Optional[int] = ..., totals: _Optional[_Union[Progress, _Mapping]] = ...) -> None: ...

class RunUpdate(_message.Message):
    __slots__ = ("progress", "output")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    progress: Progress
    output: Output
    def __init__(self, progress: _Optional[_Union[Progress, _Mapping]] = ..., output: _Optional[_Union[Output, _Mapping]] = ...) -> None: ...

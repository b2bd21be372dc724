from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tensor(_message.Message):
    __slots__ = ("kind", "shape", "width", "data")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PRIME: _ClassVar[Tensor.Kind]
        GF256: _ClassVar[Tensor.Kind]
    PRIME: Tensor.Kind
    GF256: Tensor.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    kind: Tensor.Kind
    shape: _containers.RepeatedScalarFieldContainer[int]
    width: int
    data: bytes
    def __init__(self, kind: _Optional[_Union[Tensor.Kind, str]] = ..., shape: _Optional[_Iterable[int]] = ..., width: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class PeerFrame(_message.Message):
    __slots__ = ("session_id", "round", "sender", "parts", "abort")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    ABORT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    round: int
    sender: int
    parts: _containers.RepeatedCompositeFieldContainer[Tensor]
    abort: str
    def __init__(self, session_id: _Optional[str] = ..., round: _Optional[int] = ..., sender: _Optional[int] = ..., parts: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., abort: _Optional[str] = ...) -> None: ...

class DeliveryReceipt(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: int
    def __init__(self, frames: _Optional[int] = ...) -> None: ...

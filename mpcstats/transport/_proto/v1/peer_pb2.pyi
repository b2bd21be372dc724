from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Tensor(_message.Message):
    __slots__ = ("kind", "shape", "data", "width")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        PRIME: _ClassVar[Tensor.Kind]
        GF256: _ClassVar[Tensor.Kind]
    PRIME: Tensor.Kind
    GF256: Tensor.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    kind: Tensor.Kind
    shape: _containers.RepeatedScalarFieldContainer[int]
    data: bytes
    width: int
    def __init__(self, kind: _Optional[_Union[Tensor.Kind, str]] = ..., shape: _Optional[_Iterable[int]] = ..., data: _Optional[bytes] = ..., width: _Optional[int] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("parties",)
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    parties: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, parties: _Optional[_Iterable[str]] = ...) -> None: ...

class Abort(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Goodbye(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PeerFrame(_message.Message):
    __slots__ = ("session_id", "round", "sender", "parts", "abort", "hello", "goodbye")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    SENDER_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    ABORT_FIELD_NUMBER: _ClassVar[int]
    HELLO_FIELD_NUMBER: _ClassVar[int]
    GOODBYE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    round: int
    sender: int
    parts: _containers.RepeatedCompositeFieldContainer[Tensor]
    abort: Abort
    hello: Hello
    goodbye: Goodbye
    def __init__(self, session_id: _Optional[str] = ..., round: _Optional[int] = ..., sender: _Optional[int] = ..., parts: _Optional[_Iterable[_Union[Tensor, _Mapping]]] = ..., abort: _Optional[_Union[Abort, _Mapping]] = ..., hello: _Optional[_Union[Hello, _Mapping]] = ..., goodbye: _Optional[_Union[Goodbye, _Mapping]] = ...) -> None: ...

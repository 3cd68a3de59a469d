"""The DSS's entities, typed: as kept in its tables, and as ASTM F3548-21 puts them on the wire.

Both are ``TypedDict``s: at run time they are the plain dicts the DSS has always built, read and
rendered (no conversion, no validation, nothing added per request); to mypy and to a reader they
say which keys an entity has and what each holds. The wire names are the standard's own
(``OperationalIntentReference``, ``SubscriberToNotify``, ...), so a reader can put this file
beside the standard's OpenAPI document; the routes' OpenAPI answers are documented with them.

Stored entities (``dss.storage``) keep their times as aware datetimes and their level-13 cells;
``Reference`` is both kinds of reference (``oir``, ``constraint``), an intent's having a
``state`` and a ``subscription_id``, and a reference published from ``/v1`` (``dss.native``)
the ``native`` record it shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired

from typing_extensions import TypedDict  # pydantic reads typing's own only from Python 3.12

from ..model import Volume4D

#: The kinds of entity the DSS keeps (its tables' ``kind``).
Kind = Literal["oir", "constraint", "sub"]
#: The kinds of reference: operational intent, constraint.
RefKind = Literal["oir", "constraint"]
#: The two triggers a subscription may ask for.
NotifyFlag = Literal["notify_for_operational_intents", "notify_for_constraints"]


# --- as stored ----------------------------------------------------------------------------------
class NativeSource(TypedDict):
    """The ``/v1`` record a published reference shows: its key and the volumes published."""

    key: str
    volumes: list[Volume4D]


class Reference(TypedDict):
    """An operational intent or constraint reference as the DSS keeps it."""

    id: str
    manager: str
    version: int
    ovn: str
    time_start: datetime
    time_end: datetime
    alt_lower: float | None
    alt_upper: float | None
    uss_base_url: str
    cells: list[int]
    #: an intent's: Accepted, Activated, Nonconforming or Contingent
    state: NotRequired[str]
    #: an intent's subscription (None: none)
    subscription_id: NotRequired[str | None]
    #: a reference published from ``/v1`` (``dss.native``): the record it shows
    native: NotRequired[NativeSource]


class StoredSubscription(TypedDict):
    """A subscription as the DSS keeps it (``implicit_subscription``: made for an intent)."""

    id: str
    manager: str
    version: str
    notification_index: int
    time_start: datetime
    time_end: datetime
    alt_lower: float | None
    alt_upper: float | None
    uss_base_url: str
    notify_for_operational_intents: bool
    notify_for_constraints: bool
    implicit_subscription: bool
    cells: list[int]


# --- on the wire (F3548-21's schemas, by their names there) ---------------------------------------
class Time(TypedDict):
    value: str
    format: Literal["RFC3339"]


class OperationalIntentReference(TypedDict):
    id: str
    manager: str
    uss_availability: str
    version: int
    state: str
    ovn: str
    time_start: Time
    time_end: Time
    uss_base_url: str
    subscription_id: str


class ConstraintReference(TypedDict):
    id: str
    manager: str
    uss_availability: str
    version: int
    ovn: str
    time_start: Time
    time_end: Time
    uss_base_url: str


class SubscriptionState(TypedDict):
    subscription_id: str
    notification_index: int


class SubscriberToNotify(TypedDict):
    uss_base_url: str
    subscriptions: list[SubscriptionState]


class Subscription(TypedDict):
    id: str
    version: str
    notification_index: int
    time_start: Time
    time_end: Time
    uss_base_url: str
    notify_for_operational_intents: bool
    notify_for_constraints: bool
    implicit_subscription: bool
    dependent_operational_intents: list[str]


class ChangeOperationalIntentReferenceResponse(TypedDict):
    operational_intent_reference: OperationalIntentReference
    subscribers: list[SubscriberToNotify]


class GetOperationalIntentReferenceResponse(TypedDict):
    operational_intent_reference: OperationalIntentReference


class QueryOperationalIntentReferenceResponse(TypedDict):
    operational_intent_references: list[OperationalIntentReference]


class ChangeConstraintReferenceResponse(TypedDict):
    constraint_reference: ConstraintReference
    subscribers: list[SubscriberToNotify]


class GetConstraintReferenceResponse(TypedDict):
    constraint_reference: ConstraintReference


class QueryConstraintReferencesResponse(TypedDict):
    constraint_references: list[ConstraintReference]


class PutSubscriptionResponse(TypedDict):
    subscription: Subscription
    #: given when the subscription asks for intents: those in its extent now
    operational_intent_references: NotRequired[list[OperationalIntentReference]]
    #: given when the subscription asks for constraints: those in its extent now
    constraint_references: NotRequired[list[ConstraintReference]]


class GetSubscriptionResponse(TypedDict):
    subscription: Subscription


class DeleteSubscriptionResponse(TypedDict):
    subscription: Subscription


class QuerySubscriptionsResponse(TypedDict):
    subscriptions: list[Subscription]


class UssAvailabilityStatus(TypedDict):
    uss: str
    availability: str


class UssAvailabilityStatusResponse(TypedDict):
    status: UssAvailabilityStatus
    version: str


class ErrorResponse(TypedDict):
    message: str


class ErrorReport(TypedDict):
    """A report as received, given its id (the rest is the reporter's, kept as sent)."""

    report_id: str
    exchange: NotRequired[dict[str, Any]]


class AirspaceConflictResponse(TypedDict):
    """409 of an intent written without the OVNs of the entities it would conflict with."""

    message: str
    missing_operational_intents: list[OperationalIntentReference]
    missing_constraints: list[ConstraintReference]


# --- details, as the managing USS of an intent or area published from /v1 -----------------------
class LatLngPoint(TypedDict):
    lng: float
    lat: float


class Radius(TypedDict):
    value: float
    units: Literal["M"]


class Circle(TypedDict):
    center: LatLngPoint
    radius: Radius


class Polygon(TypedDict):
    vertices: list[LatLngPoint]


class Altitude(TypedDict):
    value: float
    reference: Literal["W84"]
    units: Literal["M"]


class Outline(TypedDict, total=False):
    """One of the two."""

    outline_circle: Circle
    outline_polygon: Polygon


class Volume3D(Outline):
    altitude_lower: Altitude
    altitude_upper: Altitude


class Volume4DJson(TypedDict):
    """F3548's ``Volume4D`` (``model.Volume4D`` is the native one)."""

    volume: Volume3D
    time_start: Time
    time_end: Time


class PublishedReference(TypedDict):
    """The reference of an intent or area published from ``/v1``, as its details show it (an
    intent's with ``state`` and ``subscription_id``)."""

    id: str
    manager: str
    uss_availability: str
    version: int
    ovn: str
    time_start: Time
    time_end: Time
    uss_base_url: str
    state: NotRequired[str]
    subscription_id: NotRequired[str]


class OperationalIntentDetails(TypedDict):
    volumes: list[Volume4DJson]
    off_nominal_volumes: list[Volume4DJson]
    priority: int


class OperationalIntentWithDetails(TypedDict):
    """F3548's ``OperationalIntent`` (``model.OperationalIntent`` is the native one)."""

    reference: PublishedReference
    details: OperationalIntentDetails


class GetOperationalIntentDetailsResponse(TypedDict):
    operational_intent: OperationalIntentWithDetails


class ConstraintDetails(TypedDict):
    volumes: list[Volume4DJson]
    type: str


class Constraint(TypedDict):
    reference: PublishedReference
    details: ConstraintDetails


class GetConstraintDetailsResponse(TypedDict):
    constraint: Constraint


# --- InterUSS auxiliary endpoints -----------------------------------------------------------------
class GetVersionResponse(TypedDict):
    system_identity: str
    system_version: str


class PoolResponse(TypedDict):
    dar_id: str

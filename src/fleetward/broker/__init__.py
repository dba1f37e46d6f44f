"""The embedded MQTT broker: asyncio listeners around the sans-I/O core."""

from fleetward.broker.core import Broker, BrokerLimits
from fleetward.broker.listeners import ListenerInfo, start_listener
from fleetward.broker.session import Message, Session

__all__ = ["Broker", "BrokerLimits", "ListenerInfo", "Message", "Session", "start_listener"]

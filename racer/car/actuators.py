"""Actuators: where the runtime's commands go.

Every actuator takes a :class:`Command` (normalised steering and throttle in [-1, 1] plus the
physical action they came from) through ``send`` and releases itself with ``close``. The runtime
sends :meth:`Command.stop` before closing, so the car is left straight and at rest.

Specs understood by :func:`parse_actuator`:

* ``stdout``: one JSON line per command:
  ``{"t": s, "steering": n, "throttle": n, "steering_deg": deg, "speed_mps": mps}``
  (``t``: seconds since the drive started).
* ``udp:HOST:PORT``: the same JSON object, one datagram per command (``HOST`` may be an IPv6
  address in brackets).
* ``pca9685`` or ``pca9685:STEERING_CH:THROTTLE_CH``: a PCA9685 PWM board on I2C (default
  channels 0 and 1, 50 Hz), pulse widths from the :class:`~racer.car.actions.Calibration`;
  needs ``pip install adafruit-circuitpython-pca9685``.
* ``null``: discard (benchmarks).
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TextIO, runtime_checkable

from racer.car.actions import Calibration
from racer.errors import ConfigError, MissingDependencyError

PCA9685_FREQUENCY_HZ = 50  # standard RC servo / ESC frame rate
PCA9685_ADDRESS = 0x40  # the board's default I2C address
PCA9685_FREQUENCY_RANGE_HZ = (24.0, 1526.0)  # what the PCA9685's prescaler can produce
MAX_HOST_CHARS = 253  # the longest DNS name
ACTUATOR_SPECS = ("stdout", "udp:HOST:PORT", "pca9685[:STEERING_CH:THROTTLE_CH]", "null")


@dataclass(frozen=True)
class Command:
    """One control command.

    Attributes:
        t: seconds since the drive started.
        steering: normalised steering in [-1, 1], + = left (no polarity applied).
        throttle: normalised throttle in [-1, 1], + = forward (no polarity applied).
        steering_deg: the physical steering angle it came from, degrees.
        speed_mps: the physical speed it came from, m/s.
    """

    t: float
    steering: float
    throttle: float
    steering_deg: float
    speed_mps: float

    @classmethod
    def stop(cls, t: float = 0.0) -> Command:
        """Straight wheels, zero throttle."""
        return cls(t, 0.0, 0.0, 0.0, 0.0)

    def to_json(self) -> str:
        """The JSON object, rounded to 6 decimals, on one line."""
        return json.dumps({k: round(float(v), 6) for k, v in asdict(self).items()})


@runtime_checkable
class Actuator(Protocol):
    """Something that executes commands."""

    def send(self, command: Command) -> None:
        """Execute one command."""
        ...

    def close(self) -> None:
        """Release the device or socket."""
        ...


class NullActuator:
    """Discards commands (benchmarks, dry runs)."""

    def send(self, command: Command) -> None:
        """Do nothing."""

    def close(self) -> None:
        """Nothing to release."""


class StdoutActuator:
    """Writes one JSON line per command.

    Args:
        stream: where to write; standard output by default.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout

    def send(self, command: Command) -> None:
        """Write the command as a JSON line and flush."""
        self.stream.write(command.to_json() + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Flush (the stream is not closed)."""
        self.stream.flush()


class UdpActuator:
    """Sends each command as one JSON datagram.

    Args:
        host: destination host name or address.
        port: destination UDP port.
    """

    def __init__(self, host: str, port: int) -> None:
        shown = repr(host) if len(host) <= 60 else repr(host[:57]) + "..."
        if len(host) > MAX_HOST_CHARS:
            raise ConfigError(f"udp actuator: host name {shown} is longer than {MAX_HOST_CHARS}")
        try:
            info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        except (OSError, UnicodeError, ValueError) as exc:  # gaierror, idna "label too long"
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"udp actuator: cannot resolve {shown} ({reason})") from None
        self._addr = info[4]
        self._sock = socket.socket(info[0], socket.SOCK_DGRAM)

    def send(self, command: Command) -> None:
        """Send the datagram (errors such as an unreachable port are ignored: UDP is lossy)."""
        with contextlib.suppress(OSError):
            self._sock.sendto(command.to_json().encode("utf-8"), self._addr)

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()


class Pca9685Actuator:
    """Drives a steering servo and an ESC through a PCA9685 PWM board.

    Args:
        calibration: pulse widths and polarity of both channels.
        steering_channel: the servo's PCA9685 channel.
        throttle_channel: the ESC's PCA9685 channel.
        address: I2C address.
        frequency_hz: PWM frequency.
        pca: an already-built ``adafruit_pca9685.PCA9685``-like object (tests, custom buses).
    """

    def __init__(
        self,
        calibration: Calibration | None = None,
        steering_channel: int = 0,
        throttle_channel: int = 1,
        address: int = PCA9685_ADDRESS,
        frequency_hz: float = PCA9685_FREQUENCY_HZ,
        pca: Any = None,
    ) -> None:
        self.calibration = calibration or Calibration()
        self.calibration.validate()  # a field changed after loading is checked again here
        lo_hz, hi_hz = PCA9685_FREQUENCY_RANGE_HZ
        if not (isinstance(frequency_hz, (int, float)) and lo_hz <= frequency_hz <= hi_hz):
            raise ConfigError(
                f"pca9685 frequency must be within {lo_hz:g}-{hi_hz:g} Hz, got {frequency_hz!r}"
            )
        chans = (steering_channel, throttle_channel)
        if not all(isinstance(c, int) and 0 <= c < 16 for c in chans) or chans[0] == chans[1]:
            raise ConfigError(f"pca9685 channels must be two different 0-15, got {chans}")
        if pca is None:
            try:
                import board  # type: ignore[import-not-found]
                import busio  # type: ignore[import-not-found]
                from adafruit_pca9685 import PCA9685  # type: ignore[import-not-found]
            except ImportError:
                raise MissingDependencyError(
                    "the pca9685 actuator needs the Adafruit driver; install it with: "
                    "pip install adafruit-circuitpython-pca9685"
                ) from None
            pca = PCA9685(busio.I2C(board.SCL, board.SDA), address=address)
            pca.frequency = frequency_hz
        self._pca = pca
        self.frequency_hz = float(frequency_hz)
        self.channels = (int(steering_channel), int(throttle_channel))

    def duty_cycle(self, pulse_us: float) -> int:
        """16-bit duty cycle for a pulse width at this PWM frequency."""
        period_us = 1e6 / self.frequency_hz
        return max(0, min(0xFFFF, round(pulse_us / period_us * 0xFFFF)))

    def send(self, command: Command) -> None:
        """Set both channels' pulse widths."""
        steer_us, throttle_us = self.calibration.pwm(command.steering, command.throttle)
        self._pca.channels[self.channels[0]].duty_cycle = self.duty_cycle(steer_us)
        self._pca.channels[self.channels[1]].duty_cycle = self.duty_cycle(throttle_us)

    def close(self) -> None:
        """Neutral on both channels, then release the board."""
        self.send(Command.stop())
        deinit = getattr(self._pca, "deinit", None)
        if callable(deinit):
            deinit()


def parse_actuator(spec: str, calibration: Calibration | None = None) -> Actuator:
    """Open an actuator from its spec (see the module docstring).

    Args:
        spec: ``stdout``, ``udp:HOST:PORT``, ``pca9685[:STEERING_CH:THROTTLE_CH]`` or ``null``.
        calibration: used by ``pca9685``.

    Returns:
        The actuator.

    Raises:
        ConfigError: one line for a malformed or unknown spec.
    """
    if len(spec) > MAX_HOST_CHARS + 16:  # udp:HOST:PORT with the longest DNS name
        raise ConfigError(f"actuator spec too long ({len(spec)} characters); see --help")
    kind, _, arg = spec.partition(":")
    if kind == "stdout" and not arg:
        return StdoutActuator()
    if kind == "null" and not arg:
        return NullActuator()
    if kind == "udp":
        host, _, port_s = arg.rpartition(":")
        host = host.strip("[]")
        try:
            port = int(port_s)
        except ValueError:
            port = -1
        if not host or not 0 < port < 65536:
            raise ConfigError(f"bad actuator {spec!r}; use udp:HOST:PORT with a port in 1-65535")
        return UdpActuator(host, port)
    if kind == "pca9685":
        channels = (0, 1)
        if arg:
            try:
                steer_s, throttle_s = arg.split(":")
                channels = (int(steer_s), int(throttle_s))
            except ValueError:
                raise ConfigError(
                    f"bad actuator {spec!r}; use pca9685 or pca9685:STEERING_CH:THROTTLE_CH"
                ) from None
            if not all(0 <= c < 16 for c in channels) or channels[0] == channels[1]:
                raise ConfigError(f"bad actuator {spec!r}; channels are two different 0-15")
        return Pca9685Actuator(
            calibration, steering_channel=channels[0], throttle_channel=channels[1]
        )
    raise ConfigError(f"unknown actuator {spec!r}; use one of {', '.join(ACTUATOR_SPECS)}")

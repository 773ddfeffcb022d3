"""racer.contract: one action space with one forward and one inverse mapping, DeepRacer's form
in and out, bundle metadata of both schema versions, and nothing heavy imported."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from racer.contract import (
    CAR_OBSERVATIONS,
    DEFAULT_DISCRETE,
    IMAGE_OBSERVATIONS,
    OBSERVATION_TABLE,
    OBSERVATIONS,
    STATE_FEATURES,
    ActionSpace,
    bundle_action_space,
    car,
)
from racer.contract import bundle as bundle_contract
from racer.errors import ConfigError

CONTINUOUS = ActionSpace(kind="continuous", steering_deg=(-20.0, 25.0), speed_mps=(0.5, 3.5))
UNEVEN = ActionSpace(actions=((-30.0, 0.6), (-7.5, 1.3), (0.0, 4.0), (12.25, 0.1), (30.0, 2.2)))


@pytest.mark.parametrize("space", [ActionSpace(), UNEVEN])
def test_discrete_forward_and_inverse_round_trip(space: ActionSpace) -> None:
    for i, pair in enumerate(space.actions):
        assert space.to_command(i) == pair
        assert space.to_command(np.int64(i)) == pair
        assert space.to_action(*pair) == i
    # a command between pairs snaps to the nearest (steering per 30 deg, speed per 2 m/s)
    assert ActionSpace().to_action(14.0, 1.9) == ActionSpace().actions.index((15.0, 2.0))


def test_discrete_duplicates_map_back_to_the_first() -> None:
    space = ActionSpace(actions=((0.0, 1.0), (10.0, 2.0), (0.0, 1.0)))
    assert space.to_action(0.0, 1.0) == 0


def test_continuous_forward_and_inverse_round_trip() -> None:
    for a in np.linspace(-1.0, 1.0, 9):
        for b in np.linspace(-1.0, 1.0, 9):
            steer, speed = CONTINUOUS.to_command(np.array([a, b]))
            back = CONTINUOUS.to_action(steer, speed)
            assert back.dtype == np.float32
            np.testing.assert_allclose(back, [a, b], atol=1e-6)
            assert CONTINUOUS.to_command(back) == pytest.approx((steer, speed), abs=1e-5)
    assert CONTINUOUS.to_command([-1.0, -1.0]) == (-20.0, 0.5)
    assert CONTINUOUS.to_command([1.0, 1.0]) == (25.0, 3.5)
    # beyond the ranges: the inverse clips, the forward clips, NaN reads as the middle
    np.testing.assert_array_equal(CONTINUOUS.to_action(40.0, 0.0), [1.0, -1.0])
    assert CONTINUOUS.to_command([9.0, -9.0]) == (25.0, 0.5)
    assert CONTINUOUS.to_command([np.nan, np.nan]) == (2.5, 2.0)


def test_forward_mapping_is_the_decoders_and_the_envs() -> None:
    from racer.car.actions import ActionDecoder
    from racer.env.spaces import ActionSpec

    decoder = ActionDecoder(CONTINUOUS.to_model_metadata(), "normalized")
    env_spec = ActionSpec.from_model_metadata(CONTINUOUS.to_model_metadata())
    assert env_spec == CONTINUOUS == decoder.space
    for a in np.random.default_rng(0).uniform(-1.2, 1.2, (50, 2)):
        got = decoder.decode(a)
        assert (got.steering_deg, got.speed_mps) == env_spec.to_command(a)


@pytest.mark.parametrize("space", [ActionSpace(), UNEVEN, CONTINUOUS, ActionSpace("continuous")])
def test_model_metadata_round_trip(space: ActionSpace) -> None:
    data = space.to_model_metadata()
    assert data["action_space_type"] == space.kind
    assert ActionSpace.from_model_metadata(json.loads(json.dumps(data))) == space
    whole = {**data, "sensor": ["FRONT_FACING_CAMERA"], "version": "5"}  # a whole file reads too
    assert ActionSpace.from_model_metadata(whole) == space
    assert ActionSpace.from_model_metadata({"action_space": data["action_space"]}) == space


def test_model_metadata_errors_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'action_space'"):
        ActionSpace.from_model_metadata({"action_spac": []})
    with pytest.raises(ConfigError, match=r"steering_angle 45.0 is out of range"):
        ActionSpace.from_model_metadata({"action_space": [{"steering_angle": 45, "speed": 1}]})
    with pytest.raises(ConfigError, match=r"continuous speed range"):
        ActionSpace(kind="continuous", speed_mps=(0.0, 9.0))
    with pytest.raises(ConfigError, match=r"'discrete' or 'continuous'"):
        ActionSpace(kind="box")


def test_defaults_and_sizes() -> None:
    assert ActionSpace().actions == DEFAULT_DISCRETE and ActionSpace().n_outputs == 10
    assert CONTINUOUS.n == 0 and CONTINUOUS.n_outputs == 2
    assert UNEVEN.max_speed_mps == 4.0 and UNEVEN.max_steering_deg == 30.0
    assert CONTINUOUS.max_steering_deg == 25.0


def _legacy_meta(space: ActionSpace) -> dict[str, object]:
    if space.kind == "discrete":
        value: dict[str, object] = {
            "type": "discrete",
            "actions": [{"steering_angle": s, "speed": v} for s, v in space.actions],
        }
    else:
        value = {"type": "continuous", **space.to_model_metadata()["action_space"]}
    return {"schema_version": 1, "action_space": value, "action_output": "x"}


@pytest.mark.parametrize("space", [UNEVEN, CONTINUOUS])
def test_bundle_metadata_of_both_schema_versions_reads_the_same(space: ActionSpace) -> None:
    new = {
        "schema_version": bundle_contract.SCHEMA_VERSION,
        **bundle_contract.action_entries(space),
    }
    old = _legacy_meta(space)
    assert bundle_action_space(new) == bundle_action_space(old) == space
    assert bundle_contract.metadata_action_space(old) == space.to_model_metadata()
    assert new["action_output"] == ("probabilities" if space.kind == "discrete" else "normalized")

    from racer.car.actions import ActionDecoder

    for meta in (new, old):
        meta = {**meta, "action_output": new["action_output"]}
        assert ActionDecoder.from_metadata(meta).space == space


def test_io_entries() -> None:
    entries = bundle_contract.io_entries("lidar", (1, car.LIDAR_BEAMS), 2)
    assert entries["inputs"] == [
        {"name": "obs", "shape": [1, 64], "dtype": "float32", "range": "metres (lidar ranges)"}
    ]
    assert entries["outputs"] == [{"name": "action", "shape": [1, 2], "dtype": "float32"}]


def test_observation_table() -> None:
    assert OBSERVATIONS == ("camera", "stereo", "lidar", "state", "state_lidar")
    assert CAR_OBSERVATIONS == ("camera", "stereo", "lidar")
    assert IMAGE_OBSERVATIONS == ("camera", "stereo")
    state = OBSERVATION_TABLE[-2]
    assert OBSERVATION_TABLE[-1].shape == (23 + car.LIDAR_BEAMS,)
    assert state.shape == (len(STATE_FEATURES),) == (23,) and not state.on_car
    units = {name: unit for name, _, unit in STATE_FEATURES}
    assert units["curvature_0m"] == "1/m x 0.5"  # the code scales curvature (1/m) by 0.5


def test_the_simulator_and_the_environment_use_the_contract() -> None:
    from racer.env import CONTROL_HZ as ENV_HZ
    from racer.env import OBSERVATIONS as ENV_OBS
    from racer.env import STATE_FEATURES as ENV_FEATURES
    from racer.sim import WorldConfig
    from racer.sim.config import CONTROL_HZ as SIM_HZ

    assert ENV_HZ == SIM_HZ == car.CONTROL_HZ == 15
    assert ENV_OBS is OBSERVATIONS and ENV_FEATURES is STATE_FEATURES
    cfg = WorldConfig()
    assert (cfg.camera.height_px, cfg.camera.width_px) == OBSERVATION_TABLE[0].shape[1:]
    assert (cfg.lidar.num_rays, cfg.lidar.max_range_m) == (car.LIDAR_BEAMS, car.LIDAR_MAX_RANGE_M)
    assert cfg.car_limits().car_width_m == car.CAR_WIDTH_M


def test_importing_the_contract_imports_nothing_heavy() -> None:
    code = (
        "import sys, racer.contract\n"
        "heavy = {'gymnasium', 'torch', 'pybullet', 'scipy', 'onnxruntime', 'openvino'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout

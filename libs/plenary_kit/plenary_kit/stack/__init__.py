"""The local stack: genuine Kafka and FerretDB (`infra`) and the Python services (`processes`), run in the
background from the checkout's `.plenary/` folder. `plenary stack ...` (plenary_kit.cli) and the test fixtures
(plenary_kit.testing.stack_fixtures) are the two users."""

from plenary_kit.stack.infra import (
    FerretDBServer,
    KafkaServer,
    install,
    local_infra,
    start_infra,
)
from plenary_kit.stack.processes import (
    SERVICES,
    ComponentStatus,
    StackError,
    StackPaths,
    find_root,
    start_services,
    stop_services,
)

__all__ = [
    "SERVICES",
    "ComponentStatus",
    "FerretDBServer",
    "KafkaServer",
    "StackError",
    "StackPaths",
    "find_root",
    "install",
    "local_infra",
    "start_infra",
    "start_services",
    "stop_services",
]

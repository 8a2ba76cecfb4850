"""The memory-time model as pure functions over plain data: no I/O, no ORM, exact integer money."""

#!/usr/bin/env python3
"""Independent Modbus peer for the system tests: a pymodbus server (TCP or RTU on a serial
port/pty) holding the registers given in a JSON spec, counting the reads per unit.

spec: {"units": {"1": {"holding": {"0": 658}, "input": {"0": 17000, "1": 0}}, ...}}
Units listed in "dead" never answer (their replies are dropped before sending). Counts are written to --counts as
{"1": n, ...} every 0.2 s.
"""
import argparse
import functools
import asyncio
import json
import logging

from pymodbus.datastore import ModbusDeviceContext, ModbusServerContext, ModbusSparseDataBlock
from pymodbus.framer import FramerType
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer

COUNTS = {}


async def count(unit, function_code, start_address, address, count, current_registers, set_values):
    """Called by pymodbus for every register access of `unit`."""
    COUNTS[unit] = COUNTS.get(unit, 0) + 1
    return None


async def dump(path):
    while True:
        with open(path + ".tmp", "w") as f:
            json.dump(COUNTS, f)
        import os

        os.replace(path + ".tmp", path)
        await asyncio.sleep(0.2)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tcp", type=int)
    p.add_argument("--serial")
    p.add_argument("--spec", required=True)
    p.add_argument("--counts", required=True)
    a = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    spec = json.load(open(a.spec))
    devices = {}
    for unit, regs in spec["units"].items():
        hr = {int(k): v for k, v in regs.get("holding", {}).items()}
        ir = {int(k): v for k, v in regs.get("input", {}).items()}
        dev = ModbusDeviceContext(
            hr=ModbusSparseDataBlock(hr or {0: 0}), ir=ModbusSparseDataBlock(ir or {0: 0})
        )
        dev.simdevice.action = functools.partial(count, unit)
        devices[int(unit)] = dev
    dead = {int(u) for u in spec.get("dead", [])}
    for unit in dead:
        devices[unit] = ModbusDeviceContext()

    def silence(sending, data):
        # A dead slave: its replies never leave the server.
        if sending and data[:1] and data[0] in dead:
            return b""
        return data

    ctx = ModbusServerContext(devices=devices, single=False)
    asyncio.create_task(dump(a.counts))
    if a.tcp:
        await StartAsyncTcpServer(
            context=ctx, address=("127.0.0.1", a.tcp)
        )
    else:
        await StartAsyncSerialServer(
            context=ctx,
            port=a.serial,
            framer=FramerType.RTU,
            baudrate=9600,
            trace_packet=silence,
        )


asyncio.run(main())

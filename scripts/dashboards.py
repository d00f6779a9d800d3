#!/usr/bin/env python3
"""Generate the Grafana dashboards in dashboards/ (provisioning-ready JSON, InfluxQL).

Edit the panels here and run `python3 scripts/dashboards.py`; the system test
`dashboards::every_panel_query_returns_rows` runs every query against a real InfluxDB 1.6
filled by the daemon from a simulated day, and checks that the files match this script.

Titles are Chinese with the English after a middle dot ("夜间达标率 · Night compliance");
descriptions are English.
"""

import json
import os
import sys

# Every panel and variable uses the `datasource` variable, so a dashboard works with whatever
# InfluxDB data source an operator has: provisioned (uid meili-influxdb, the variable's
# default) or chosen in Grafana's import dialog (`__inputs`).
DS = {"type": "influxdb", "uid": "${datasource}"}
PROVISIONED_UID = "meili-influxdb"
DS_VAR = {
    "name": "datasource",
    "label": "数据源 Data source",
    "type": "datasource",
    "query": "influxdb",
    "regex": "",
    "current": {"text": "Meili InfluxDB", "value": PROVISIONED_UID},
    "options": [],
    "refresh": 1,
    "hide": 0,
    "multi": False,
    "includeAll": False,
}
INPUTS = [{
    "name": "DS_MEILI",
    "label": "Meili InfluxDB",
    "description": "The InfluxDB (1.x API, InfluxQL) meilid writes to.",
    "type": "datasource",
    "pluginId": "influxdb",
    "pluginName": "InfluxDB",
}]
SITE = '"site" =~ /^$site$/'
DEVICE = '"device" =~ /^$device$/'
# Compliance rows are stamped at the start of their window (a year row on 1 January), so the
# scorecard looks back far enough to find them whatever the dashboard's time range.
LOOKBACK = "time > now() - 400d"

# HJ 633 AQI categories and their official colours.
AQI_STEPS = [
    (None, "#00e400"),  # 优 good 0–50
    (51, "#ffff00"),  # 良 moderate 51–100
    (101, "#ff7e00"),  # 轻度污染 lightly polluted
    (151, "#ff0000"),  # 中度污染 moderately polluted
    (201, "#99004c"),  # 重度污染 heavily polluted
    (301, "#7e0023"),  # 严重污染 severely polluted
]

TARGETS = {
    "noise_night_compliance": 85,
    "noise_zone_coverage": 70,
    "air_good_days": 97.2,
    "lighting_rate_main": 98,
    "lighting_rate_secondary": 95,
    "lighting_intact": 95,
}


def steps(pairs):
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in pairs]}


def target(ref, query, fmt="time_series", alias=None):
    t = {"refId": ref, "datasource": DS, "query": query, "rawQuery": True, "resultFormat": fmt}
    if alias:
        t["alias"] = alias
    return t


def panel(kind, title, description, queries, w, h, unit=None, thresholds=None, fmt=None,
          options=None, custom=None, transformations=None, decimals=None, mappings=None,
          min_=None, max_=None, overrides=None):
    fmt = fmt or ("table" if kind == "table" else "time_series")
    refs = "ABCDEFGH"
    p = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [target(refs[i], q, fmt) for i, q in enumerate(queries)],
        "fieldConfig": {"defaults": {}, "overrides": overrides or []},
        "options": options or {},
        "_w": w,
        "_h": h,
    }
    d = p["fieldConfig"]["defaults"]
    if unit:
        d["unit"] = unit
    if thresholds:
        d["thresholds"] = steps(thresholds)
        d["color"] = {"mode": "thresholds"}
    if decimals is not None:
        d["decimals"] = decimals
    if mappings:
        d["mappings"] = mappings
    if min_ is not None:
        d["min"] = min_
    if max_ is not None:
        d["max"] = max_
    if custom:
        d["custom"] = custom
    if transformations:
        p["transformations"] = transformations
    return p


def row(title):
    return {"type": "row", "title": title, "collapsed": False, "panels": [], "_w": 24, "_h": 1}


def var_query(name, label, query, multi=False):
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 1,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "options": [],
        "hide": 0,
    }


def site_var(measurement):
    return var_query("site", "站点 Site", f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "site"')


def device_var(measurement):
    return var_query(
        "device", "设备 Device",
        f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "device" WHERE {SITE}', multi=True)


def layout(panels):
    """Give panels ids and non-overlapping grid positions, left to right, top to bottom."""
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p.pop("_w"), p.pop("_h")
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        row_h = max(row_h, h)
    return panels


def dashboard(uid, title, description, variables, panels, time_from="now-2d", refresh="1m"):
    return {
        "__inputs": INPUTS,
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["meili"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": [DS_VAR] + variables},
        "annotations": {"list": []},
        "links": [{"title": "Meili", "type": "dashboards", "tags": ["meili"], "asDropdown": True}],
        "panels": layout(panels),
    }


def pct_stat(title, description, metric, window="month", w=4, h=4):
    """A ratio against its target: the value (A) and the target in effect (B, from the
    compliance rows, so a target set in meili.toml colours the panel); B only configures the
    threshold (Grafana's "Config from query results"; dashboards/README.md)."""
    where = f'{SITE} AND "metric" = \'{metric}\' AND "window" = \'{window}\' AND {LOOKBACK}'
    queries = [f'SELECT last("percent") FROM "compliance" WHERE {where}']
    transformations = None
    if metric in TARGETS:
        th = [(None, "red")]
        queries.append(f'SELECT last("target") * 100 AS "target" FROM "compliance" WHERE {where}')
        transformations = [{"id": "configFromData", "options": {
            "configRefId": "B",
            "mappings": [{"fieldName": "target", "handlerKey": "threshold1",
                          "handlerArguments": {"threshold": {"color": "green"}}}],
            "applyTo": {"id": "byType", "options": "number"}}}]
    else:
        th = [(None, "blue")]
    return panel(
        "stat", title, description, queries,
        w, h, unit="percent", thresholds=th, decimals=1, transformations=transformations,
        options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background",
                 "graphMode": "none", "textMode": "value"})


def by_name(field, unit):
    """A column's own unit in a table."""
    return {"matcher": {"id": "byName", "options": field}, "properties": [{"id": "unit", "value": unit}]}


def co_axis(p):
    """CO (mg/m³) on its own right-hand axis; the other series stay in µg/m³."""
    p["fieldConfig"]["overrides"].append({
        "matcher": {"id": "byRegexp", "options": ".*\\.co( .*)?$"},
        "properties": [{"id": "unit", "value": "conmgm3"},
                       {"id": "custom.axisPlacement", "value": "right"},
                       {"id": "custom.axisLabel", "value": "CO mg/m³"}],
    })
    return p


# ---- compliance scorecard ---------------------------------------------------------------

def compliance():
    windows = [("day", "today"), ("month", "month_to_date"), ("year", "year_to_date")]
    queries = [
        f'SELECT last("percent") AS "{alias}" FROM "compliance" WHERE {SITE} AND "window" = \'{w}\' '
        f'AND {LOOKBACK} GROUP BY "metric"'
        for w, alias in windows
    ]
    queries.append(
        f'SELECT last("target") AS "target", last("met") AS "met", last("numerator") AS "numerator", '
        f'last("denominator") AS "denominator", last("days") AS "days" FROM "compliance" '
        f'WHERE {SITE} AND "window" = \'month\' AND {LOOKBACK} GROUP BY "metric"')
    met_map = [{"type": "value", "options": {
        "true": {"text": "达标 met", "color": "green"},
        "false": {"text": "未达标 not met", "color": "red"}}}]
    panels = [
        pct_stat("夜间噪声达标率 · Night noise compliance",
                 "Night point-days within the GB 3096 limit / valid night point-days, month to date (target 85 %).",
                 "noise_night_compliance"),
        pct_stat("噪声达标区覆盖率 · Noise-compliant zone coverage",
                 "Area of compliant zones / monitored area, month to date (target 70 %).",
                 "noise_zone_coverage"),
        pct_stat("空气优良天数比例 · Good-air days",
                 "Days with AQI ≤ 100 (HJ 633) / valid days, year to date (target 97.2 %).",
                 "air_good_days", window="year"),
        pct_stat("主干道亮灯率 · Lighting rate, main roads",
                 "Lit / scheduled lamp-time on main roads, month to date (target 98 %).",
                 "lighting_rate_main"),
        pct_stat("次干道及支路亮灯率 · Lighting rate, other roads",
                 "Lit / scheduled lamp-time on secondary roads, branch roads and alleys, month to date (target 95 %).",
                 "lighting_rate_secondary"),
        pct_stat("路灯设施完好率 · Lighting facilities intact",
                 "Lamps without a fault / installed lamps, month to date (target 95 %).",
                 "lighting_intact"),
        panel("table", "达标情况 · Scorecard",
              "Every target metric: today, month to date and year to date (percent, GB/T 8170 rounding), "
              "the target, whether it is met this month, and the month's numerator and denominator.",
              queries, 24, 10,
              transformations=[
                  {"id": "joinByField", "options": {"byField": "metric", "mode": "outer"}},
                  {"id": "filterFieldsByName", "options": {"include": {"pattern": "^(?!Time).*"}}},
              ],
              custom={"align": "auto"}, mappings=met_map, decimals=1),
        panel("timeseries", "每日达标率 · Daily ratios",
              "Each day's ratio per metric (the day window), to see which days pulled the month down.",
              [f'SELECT last("percent") FROM "compliance" WHERE {SITE} AND "window" = \'day\' AND $timeFilter '
               f'GROUP BY time(1d), "metric" fill(none)'],
              24, 9, unit="percent", custom={"drawStyle": "line", "showPoints": "always"}),
        panel("table", "厕所密度 · Toilet density",
              "Public toilets per km² of built-up area (target 5 per km²), with the counts behind it.",
              [f'SELECT last("value") AS "per_km2", last("target") AS "target", last("numerator") AS "toilets", '
               f'last("denominator") AS "built_up_km2" FROM "compliance" WHERE {SITE} AND "metric" = \'toilet_density\' '
               f'AND "window" = \'day\' AND {LOOKBACK}'],
              24, 4, decimals=2),
    ]
    return dashboard(
        "meili-compliance", "达标情况 · Compliance scorecard",
        "The targets a county town's plan is judged on, as Meili computes them.",
        [site_var("compliance")], panels, time_from="now-30d")


# ---- noise ------------------------------------------------------------------------------

def noise():
    energy_mean = (
        f'SELECT 10 * log10(mean("e")) AS "leq" FROM (SELECT pow(10, "laeq" / 10) AS "e" FROM "noise" '
        f'WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device") '
        f'GROUP BY time($__interval), "device" fill(none)')
    panels = [
        row("声环境 · Noise"),
        panel("timeseries", "等效声级 LAeq · Equivalent level per point",
              "Energy mean of the readings' LAeq per interval, dB(A).",
              [energy_mean], 16, 9, unit="suffix: dB(A)"),
        panel("timeseries", "最大声级 · LAmax",
              "Highest LAmax per interval, dB(A).",
              [f'SELECT max("lamax") FROM "noise" WHERE {SITE} AND {DEVICE} AND $timeFilter '
               f'GROUP BY time($__interval), "device" fill(none)'],
              8, 9, unit="suffix: dB(A)"),
        panel("timeseries", "夜间等效声级与限值 · Ln against the class limit",
              "Each point's night level Ln and its GB 3096 limit (by the point's acoustic functional zone class).",
              [f'SELECT "leq" AS "Ln", "limit" AS "limit" FROM "noise_period" WHERE {SITE} AND {DEVICE} '
               f'AND "period" = \'night\' AND $timeFilter GROUP BY "device"'],
              12, 8, unit="suffix: dB(A)", custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("timeseries", "昼间等效声级与限值 · Ld against the class limit",
              "Each point's day level Ld and its GB 3096 limit.",
              [f'SELECT "leq" AS "Ld", "limit" AS "limit" FROM "noise_period" WHERE {SITE} AND {DEVICE} '
               f'AND "period" = \'day\' AND $timeFilter GROUP BY "device"'],
              12, 8, unit="suffix: dB(A)", custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("table", "昼夜结果 · Day and night results",
              "Per point and day: Ld/Ln, Lmax, limit, within the limit, valid hours.",
              [f'SELECT "leq", "lmax", "limit", "ok", "lmax_ok", "valid_hours" FROM "noise_period" '
               f'WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device", "zone_class", "period"'],
              24, 8, decimals=1),
        panel("bargauge", "分类达标率 · Compliance per zone class",
              "Month-to-date day and night compliance per acoustic functional zone class.",
              [f'SELECT last("percent") FROM "compliance" WHERE {SITE} AND "metric" =~ /^noise_(day|night)_compliance_/ '
               f'AND "window" = \'month\' AND {LOOKBACK} GROUP BY "metric"'],
              12, 8, unit="percent", thresholds=[(None, "red"), (85, "green")], min_=0, max_=100,
              options={"orientation": "horizontal", "displayMode": "gradient",
                       "reduceOptions": {"calcs": ["lastNotNull"]}}),
        pct_stat("夜间噪声达标率 · Night compliance",
                 "Night point-days within limit / valid night point-days, month to date.",
                 "noise_night_compliance"),
        pct_stat("昼间噪声达标率 · Day compliance",
                 "Day point-days within limit / valid day point-days, month to date.",
                 "noise_day_compliance"),
        pct_stat("达标区覆盖率 · Zone coverage",
                 "Area of compliant zones / monitored area, month to date.",
                 "noise_zone_coverage"),
    ]
    # The three stats share one row of height 4; give the bar gauge's neighbours 8 rows.
    for p in panels[-3:]:
        p["_h"] = 8
    return dashboard(
        "meili-noise", "声环境 · Noise",
        "Noise points against GB 3096-2008: levels, day/night results and compliance.",
        [site_var("noise"), device_var("noise")], panels)


# ---- air --------------------------------------------------------------------------------

def air():
    aqi_colour = {"drawStyle": "bars", "fillOpacity": 80, "gradientMode": "scheme"}
    category = [{"type": "value", "options": {
        "1": {"text": "优 good", "color": "#00e400"},
        "2": {"text": "良 moderate", "color": "#ffff00"},
        "3": {"text": "轻度污染 lightly polluted", "color": "#ff7e00"},
        "4": {"text": "中度污染 moderately polluted", "color": "#ff0000"},
        "5": {"text": "重度污染 heavily polluted", "color": "#99004c"},
        "6": {"text": "严重污染 severely polluted", "color": "#7e0023"}}}]
    panels = [
        panel("timeseries", "小时 AQI · Hourly AQI",
              "HJ 633 hourly AQI per station, coloured by the official categories.",
              [f'SELECT "aqi" FROM "air_hourly" WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device"'],
              16, 9, thresholds=AQI_STEPS, custom=aqi_colour),
        panel("stat", "优良天数 · Good days this year",
              "Days with AQI ≤ 100 and valid days, year to date, against the 97.2 % target.",
              [f'SELECT last("numerator") AS "good_days", last("denominator") AS "valid_days", '
               f'last("percent") AS "percent" FROM "compliance" WHERE {SITE} AND "metric" = \'air_good_days\' '
               f'AND "window" = \'year\' AND {LOOKBACK}'],
              8, 9, decimals=1,
              options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name",
                       "colorMode": "value", "graphMode": "none"}),
        panel("timeseries", "日 AQI · Daily AQI",
              "HJ 633 daily AQI per station (24-hour means, O3 daily maximum 8-hour).",
              [f'SELECT "aqi" FROM "air_daily" WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device"'],
              12, 8, thresholds=AQI_STEPS, custom=aqi_colour),
        panel("table", "首要污染物 · Category and primary pollutant",
              "Per station and day: AQI, category (1 good … 6 severely polluted), primary pollutant, good day.",
              [f'SELECT "aqi", "category", "primary", "good", "standard" FROM "air_daily" '
               f'WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device"'],
              12, 8, mappings=category),
        panel("timeseries", "颗粒物 · PM2.5 and PM10",
              "Hourly means, µg/m³.",
              [f'SELECT "pm2_5", "pm10" FROM "air_hourly" WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device"'],
              12, 8, unit="conµgm3"),
        co_axis(panel("timeseries", "气态污染物 · SO2, NO2, O3, CO",
              "Hourly means: SO2, NO2, O3 (1-hour and 8-hour moving) in µg/m³ (left axis); CO in mg/m³ (right axis).",
              [f'SELECT "so2", "no2", "o3", "o3_8h", "co" FROM "air_hourly" WHERE {SITE} AND {DEVICE} AND $timeFilter '
               f'GROUP BY "device"'],
              12, 8, unit="conµgm3")),
        panel("timeseries", "实时 PM2.5 · Live PM2.5",
              "The stations' readings as they arrive, µg/m³.",
              [f'SELECT mean("pm2_5") FROM "air" WHERE {SITE} AND {DEVICE} AND $timeFilter '
               f'GROUP BY time($__interval), "device" fill(none)'],
              24, 7, unit="conµgm3"),
    ]
    return dashboard(
        "meili-air", "空气质量 · Air quality",
        "Air stations against HJ 633: hourly and daily AQI with the official colours, pollutants, good days.",
        # Devices from air_daily: its "All" includes `_site`, the site's own AQI series.
        [site_var("air"), device_var("air_daily")], panels, time_from="now-7d")


# ---- lighting ---------------------------------------------------------------------------

def lighting():
    panels = [
        pct_stat("主干道亮灯率 · Main roads", "Lit / scheduled lamp-time, month to date (target 98 %).",
                 "lighting_rate_main"),
        pct_stat("次干道及支路 · Other roads", "Lit / scheduled lamp-time, month to date (target 95 %).",
                 "lighting_rate_secondary"),
        pct_stat("设施完好率 · Facilities intact", "Lamps without a fault / installed lamps (target 95 %).",
                 "lighting_intact"),
        panel("stat", "故障路灯 · Faulty lamps now",
              "Installed lamps minus intact ones (lamp, driver, power or communication faults), today.",
              [f'SELECT last("total") - last("intact") AS "faulty" FROM "lighting_daily" WHERE {SITE} '
               f'AND $timeFilter GROUP BY "road_class"'],
              6, 4, thresholds=[(None, "green"), (1, "red")],
              options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background",
                       "graphMode": "none", "textMode": "value_and_name"}),
        panel("stat", "应亮未亮 · Off when they should be on",
              "Lamps due on at the inspection time that were not lit, per road class (latest lighting day).",
              [f'SELECT last("snapshot_due") - last("snapshot_lit") AS "dark" FROM "lighting_daily" '
               f'WHERE {SITE} AND $timeFilter GROUP BY "road_class"'],
              6, 4, thresholds=[(None, "green"), (1, "red")],
              options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background",
                       "graphMode": "none", "textMode": "value_and_name"}),
        panel("timeseries", "每日亮灯率 · Lighting rate per road class",
              "Each lighting day (noon to noon): lit / scheduled lamp-time.",
              [f'SELECT "rate" * 100 AS "rate" FROM "lighting_daily" WHERE {SITE} AND $timeFilter GROUP BY "road_class"'],
              12, 8, unit="percent", custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("timeseries", "暗灯时长 · Lamp-minutes dark while scheduled",
              "Scheduled minus lit lamp-minutes per lighting day.",
              [f'SELECT "scheduled_lamp_minutes" - "lit_lamp_minutes" AS "dark_lamp_minutes" FROM "lighting_daily" '
               f'WHERE {SITE} AND $timeFilter GROUP BY "road_class"'],
              12, 8, unit="m", custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("timeseries", "白天亮灯 · Day-burning",
              "Lamp-minutes on outside the schedule, and the energy they used.",
              [f'SELECT "day_burning_lamp_minutes", "day_burning_wh" FROM "lighting_daily" WHERE {SITE} '
               f'AND $timeFilter GROUP BY "road_class"'],
              12, 8),
        panel("timeseries", "能耗 · Energy",
              "Energy per hour, all selected lamps (difference of the lamps' cumulative counters).",
              [f'SELECT sum("wh") AS "energy_wh" FROM (SELECT non_negative_difference(last("energy_wh")) AS "wh" '
               f'FROM "streetlight" WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY time(1h), "device") '
               f'WHERE $timeFilter GROUP BY time(1h) fill(none)'],
              12, 8, unit="watth", custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("table", "路灯状态 · Lamps",
              "Each lamp's latest reading: switched on, power, fault bits (0 = none).",
              [f'SELECT last("lamp_on") AS "lamp_on", last("power_w") AS "power_w", last("fault") AS "fault" '
               f'FROM "streetlight" WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device", "road_class"'],
              24, 8),
    ]
    return dashboard(
        "meili-lighting", "路灯照明 · Street lighting",
        "Lighting rate per road class, lamps dark when due, faults, day-burning and energy.",
        [site_var("streetlight"), device_var("streetlight")], panels, time_from="now-7d")


# ---- toilets ----------------------------------------------------------------------------

def toilets():
    panels = [
        panel("table", "当前占用 · Occupancy now",
              "Each toilet's latest reading: occupied and total stalls, open, NH3 and H2S (mg/m³).",
              [f'SELECT last("occupied") AS "occupied", last("stalls") AS "stalls", last("open") AS "open", '
               f'last("nh3") AS "nh3", last("h2s") AS "h2s" FROM "toilet" WHERE {SITE} AND {DEVICE} '
               f'AND $timeFilter GROUP BY "device", "toilet_class"'],
              12, 8, overrides=[by_name(n, "conmgm3") for n in ("nh3", "h2s")]),
        pct_stat("可用率 · Availability", "Open minutes with a free stall / open minutes, month to date.",
                 "toilet_availability", w=6, h=8),
        pct_stat("臭气达标率 · Odour compliance",
                 "Hours within the class's NH3/H2S limits (GB/T 17217) / measured hours, month to date.",
                 "toilet_odour_compliance", w=6, h=8),
        panel("timeseries", "占用厕位 · Occupied stalls",
              "Highest number of occupied stalls per interval.",
              [f'SELECT max("occupied") FROM "toilet" WHERE {SITE} AND {DEVICE} AND $timeFilter '
               f'GROUP BY time($__interval), "device" fill(none)'],
              12, 8),
        panel("timeseries", "如厕人次 · Entries per hour",
              "Entries counted by the door beam per hour (counter differences; a device restart is not a negative).",
              [f'SELECT non_negative_difference(last("entries")) AS "entries" FROM "toilet" WHERE {SITE} AND {DEVICE} '
               f'AND $timeFilter GROUP BY time(1h), "device" fill(none)'],
              12, 8, custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("timeseries", "每日可用时长 · Available and open minutes",
              "Per toilet and day: minutes open (measured) and minutes open with a free stall.",
              [f'SELECT "measured_open_minutes", "available_minutes", "entries" FROM "toilet_daily" '
               f'WHERE {SITE} AND {DEVICE} AND $timeFilter GROUP BY "device"'],
              12, 8),
        panel("timeseries", "臭气 · Odour (NH3, H2S)",
              "Mean NH3 and H2S per interval, mg/m³.",
              [f'SELECT mean("nh3") AS "nh3", mean("h2s") AS "h2s" FROM "toilet" WHERE {SITE} AND {DEVICE} '
               f'AND $timeFilter GROUP BY time($__interval), "device" fill(none)'],
              12, 8, unit="conmgm3"),
    ]
    return dashboard(
        "meili-toilets", "智慧公厕 · Public toilets",
        "Smart public toilets: availability, occupancy now, entries, odour.",
        [site_var("toilet"), device_var("toilet")], panels)


# ---- fleet health -----------------------------------------------------------------------

def fleet():
    host = '"host" =~ /^$host$/'
    panels = [
        panel("stat", "在线设备 · Devices online",
              "Devices with a reading within three periods and no pending last will, of those declared.",
              [f'SELECT last("devices_online") AS "online", last("devices") AS "declared" FROM "meili" '
               f'WHERE {host} AND $timeFilter'],
              6, 4, options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name",
                             "graphMode": "none"}),
        panel("stat", "活动告警 · Active alerts",
              "Alerts firing now (silenced ones included).",
              [f'SELECT last("alerts_active") AS "active", last("alerts_silenced") AS "silenced" FROM "meili" '
               f'WHERE {host} AND $timeFilter'],
              6, 4, thresholds=[(None, "green"), (1, "orange")],
              options={"reduceOptions": {"calcs": ["lastNotNull"]}, "textMode": "value_and_name",
                       "colorMode": "background", "graphMode": "none"}),
        panel("stat", "最久未上报 · Longest silence",
              "Age of the oldest last reading among the site's devices.",
              [f'SELECT max("age") FROM (SELECT last("age_s") AS "age" FROM "device_status" WHERE {SITE} '
               f'AND $timeFilter GROUP BY "device")'],
              6, 4, unit="s", thresholds=[(None, "green"), (600, "orange"), (3600, "red")],
              options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background",
                       "graphMode": "none"}),
        panel("stat", "MQTT 连接 · MQTT connected",
              "Whether the gateway's MQTT session is up.",
              [f'SELECT last("mqtt_connected") AS "connected" FROM "meili" WHERE {host} AND $timeFilter'],
              6, 4, mappings=[{"type": "value", "options": {
                  "true": {"text": "已连接 up", "color": "green"},
                  "false": {"text": "断开 down", "color": "red"}}}],
              options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background",
                       "graphMode": "none"}),
        panel("table", "设备 · Devices",
              "Per device: online, seconds since its last reading, readings, rejections, signal strength, "
              "firmware and offline buffer from its status message.",
              [f'SELECT last("online") AS "online", last("age_s") AS "age_s", last("readings") AS "readings", '
               f'last("rejected") AS "rejected", last("rssi_dbm") AS "rssi_dbm", last("fw") AS "fw", '
               f'last("buffered") AS "buffered" FROM "device_status" WHERE {SITE} AND $timeFilter '
               f'GROUP BY "device", "kind"'],
              24, 10),
        panel("timeseries", "在线设备数 · Online over time",
              "Devices online and declared.",
              [f'SELECT last("devices_online") AS "online", last("devices") AS "declared" FROM "meili" '
               f'WHERE {host} AND $timeFilter GROUP BY time($__interval) fill(none)'],
              12, 8),
        panel("timeseries", "拒收原因 · Rejections by reason",
              "Messages rejected per interval, by reason (malformed JSON, unknown device, out of range…).",
              [f'SELECT non_negative_difference(last(/^rejected_/)) FROM "meili" WHERE {host} AND $timeFilter '
               f'GROUP BY time($__interval) fill(none)'],
              12, 8, custom={"drawStyle": "bars", "fillOpacity": 60}),
        panel("timeseries", "缓冲积压 · Buffer backlog",
              "Rows in the disk buffer each sink has not written yet.",
              [f'SELECT last("backlog_rows") FROM "meili_sink" WHERE {host} AND $timeFilter '
               f'GROUP BY time($__interval), "sink" fill(none)'],
              12, 8),
        panel("timeseries", "写入错误 · Sink errors",
              "Write errors per interval, per sink, and the age of the oldest unwritten row.",
              [f'SELECT non_negative_difference(last("write_errors")) AS "errors", last("oldest_unwritten_age_s") '
               f'AS "oldest_s" FROM "meili_sink" WHERE {host} AND $timeFilter GROUP BY time($__interval), "sink" fill(none)'],
              12, 8),
        panel("timeseries", "告警 · Alerts over time",
              "Active alerts.",
              [f'SELECT last("alerts_active") AS "active" FROM "meili" WHERE {host} AND $timeFilter '
               f'GROUP BY time($__interval) fill(none)'],
              12, 6),
        panel("timeseries", "读数 · Readings accepted per interval",
              "Readings accepted and rejected per interval.",
              [f'SELECT non_negative_difference(last("readings_accepted")) AS "accepted", '
               f'non_negative_difference(last("readings_rejected")) AS "rejected" FROM "meili" '
               f'WHERE {host} AND $timeFilter GROUP BY time($__interval) fill(none)'],
              12, 6),
    ]
    return dashboard(
        "meili-fleet", "设备运行 · Fleet health",
        "Devices online and last seen, rejections by reason, buffer backlog, sink errors, alerts.",
        [var_query("host", "网关 Gateway", 'SHOW TAG VALUES FROM "meili" WITH KEY = "host"'),
         site_var("device_status")], panels, time_from="now-1h", refresh="30s")


BOARDS = {
    "compliance": compliance,
    "noise": noise,
    "air": air,
    "lighting": lighting,
    "toilets": toilets,
    "fleet": fleet,
}


def render(name):
    return json.dumps(BOARDS[name](), ensure_ascii=False, indent=2) + "\n"


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dashboards")
    check = "--check" in sys.argv
    stale = []
    for name in BOARDS:
        path = os.path.join(out, f"meili-{name}.json")
        text = render(name)
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    stale.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if stale:
        print("out of date (run python3 scripts/dashboards.py):", *stale, sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()

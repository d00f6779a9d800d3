#!/usr/bin/env python3
"""A WeCom and DingTalk group-robot endpoint for the system tests, written from the platforms'
published rules, independent of meilid's code.

  POST /wecom?key=KEY              {"msgtype":"markdown","markdown":{"content":...}}, content <= 4096 bytes
  POST /dingtalk?access_token=TOK&timestamp=MS&sign=SIGN
                                   {"msgtype":"markdown","markdown":{"title":...,"text":...}}
       sign = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), timestamp within an hour

Answers HTTP 200 with {"errcode":0,"errmsg":"ok"}, or a non-zero errcode (as the platforms do)
when a check fails. Every request is appended to LOG as a JSON line with its verdict.

Usage: robot_receiver.py PORT KEY TOKEN SECRET LOG
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, KEY, TOKEN, SECRET, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]


def check_wecom(q, body):
    if q.get("key") != [KEY]:
        return 93000, "invalid webhook url"
    if body.get("msgtype") != "markdown" or not isinstance(body.get("markdown", {}).get("content"), str):
        return 40008, "invalid message type"
    if len(body["markdown"]["content"].encode()) > 4096:
        return 40058, "markdown.content exceed max length 4096"
    return 0, "ok"


def check_dingtalk(q, body):
    if q.get("access_token") != [TOKEN]:
        return 300001, "token is not exist"
    try:
        ts = int(q["timestamp"][0])
        sign = q["sign"][0]
    except (KeyError, ValueError, IndexError):
        return 310000, "sign not match: no timestamp or sign"
    if abs(time.time() * 1000 - ts) > 3600 * 1000:
        return 310000, "sign not match: timestamp out of range"
    want = base64.b64encode(
        hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()
    ).decode()
    if not hmac.compare_digest(sign, want):
        return 310000, "sign not match"
    md = body.get("markdown", {})
    if body.get("msgtype") != "markdown" or not isinstance(md.get("title"), str) or not isinstance(md.get("text"), str):
        return 40035, "invalid markdown"
    return 0, "ok"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        # parse_qs decodes the URL encoding of sign ('+', '/', '=').
        q = urllib.parse.parse_qs(url.query)
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if body is None or self.headers.get("content-type", "").split(";")[0] != "application/json":
            code, msg = 40001, "body is not JSON"
        elif url.path == "/wecom":
            code, msg = check_wecom(q, body)
        elif url.path == "/dingtalk":
            code, msg = check_dingtalk(q, body)
        else:
            code, msg = 404, "no such robot"
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"path": url.path, "errcode": code, "errmsg": msg, "body": body}, ensure_ascii=False) + "\n")
        out = json.dumps({"errcode": code, "errmsg": msg}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()

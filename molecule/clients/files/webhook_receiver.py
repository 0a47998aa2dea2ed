"""The scenario's webhook receiver (a stand-in for Slack's incoming webhooks):

    webhook_receiver.py PORT FILE

Accepts POST /hooks/$WEBHOOK_TOKEN with a JSON body, appends the body as one
line to FILE and answers 200 "ok" (what Slack answers); any other path gets
404. Runs on the scenario's own network only."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/hooks/" + os.environ["WEBHOOK_TOKEN"]:
            self.send_error(404)
            return
        try:
            message = json.loads(body)
        except ValueError:
            self.send_error(400)
            return
        with open(self.server.messages, "a", encoding="utf-8") as out:
            out.write(json.dumps({"content_type": self.headers.get("Content-Type"), "body": message}) + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt, *args):
        # The path holds the token: not in the journal.
        sys.stderr.write("%s %s\n" % (self.command, self.address_string()))


def main():
    server = ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), Handler)
    server.messages = sys.argv[2]
    server.serve_forever()


if __name__ == "__main__":
    main()

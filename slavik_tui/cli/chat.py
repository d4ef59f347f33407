"""`chat`: talk to a model in the terminal, or let a script talk to it through a pipe.

    slavik-tui chat NAME [--system TEXT] [--temperature 0.8] [--seed S] [--max-tokens 200] ...

- **At a terminal** (stdin is a tty): a multi-turn chat. Each reply streams as it is sampled;
  Ctrl-C while it streams stops that reply (the part written stays in the conversation), and
  Ctrl-C or Ctrl-D (end of input) at the prompt ends the chat. `/clear` starts the
  conversation afresh (the system prompt stays); `/exit` ends it.
- **From a pipe** (stdin is not a tty): every input line is the next user turn of one
  conversation, and its reply is printed on one line of its own, streamed, so
  `printf 'Привет\\nКак дела?\\n' | slavik-tui chat NAME` gives two lines. A reply's own line
  breaks become spaces, and a blank input line gives a blank output line (no turn), so
  output line i always answers input line i. The end of input ends the chat.

With `--seed S` the replies of a whole session are reproducible (reply i samples with seed
S + i). A model without the chat tokens is one line advising `slavik-tui sft`.
"""

from __future__ import annotations

import sys

from slavik_tui.cli.common import workspace
from slavik_tui.spec.options import check_device_name

EXIT_WORDS = ("/exit", "/quit")


class _Session:
    """One conversation with a loaded model."""

    def __init__(self, args, model, tokenizer) -> None:
        from slavik_tui.engine.chat import SYSTEM_ROLE, Message

        self.args, self.model, self.tokenizer = args, model, tokenizer
        self.start = [Message(SYSTEM_ROLE, args.system)] if args.system else []
        self.messages = list(self.start)
        self.turn = 0

    def reply(self, text: str):
        """The streamed reply (text pieces) to the user's `text`; the reply joins the
        conversation when it ends, also when it is stopped part-way (`close()` on it)."""
        from slavik_tui.engine.chat import ASSISTANT_ROLE, USER_ROLE, Message, chat_reply

        a = self.args
        seed = None if a.seed is None else a.seed + self.turn
        self.turn += 1
        asked = [*self.messages, Message(USER_ROLE, text)]
        stream = chat_reply(self.model, self.tokenizer, asked, max_tokens=a.max_tokens,
                            temperature=a.temperature, top_k=a.top_k, top_p=a.top_p,
                            repetition_penalty=a.repetition_penalty, seed=seed,
                            quantize=a.quantize)
        said: list[str] = []
        try:
            for piece in stream:
                said.append(piece)
                yield piece
        finally:
            answer = "".join(said)
            # a reply stopped before its first character leaves the question unanswered:
            # turns must alternate, so the question goes too
            self.messages = asked + [Message(ASSISTANT_ROLE, answer)] if answer.strip() \
                else self.messages

    def clear(self) -> None:
        self.messages = list(self.start)


def cmd_chat(args) -> int:
    check_device_name(args.device)  # a typo is one line before torch is imported
    model_dir = workspace(args).model_dir(args.name)
    from slavik_tui.engine.chat import chat_ids
    from slavik_tui.engine.tokenizer import Tokenizer
    from slavik_tui.spec.folder import ModelFolder

    chat_ids(Tokenizer.load(ModelFolder(model_dir).tokenizer))  # none: how to add them
    from slavik_tui.engine.checkpoint import load_model

    model, tokenizer, _cfg = load_model(model_dir, device=args.device)
    session = _Session(args, model, tokenizer)
    if sys.stdin.isatty():
        return _interactive(session, args.name)
    return _piped(session)


def _piped(session: _Session) -> int:
    out = sys.stdout
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        if text.strip():
            for piece in session.reply(text):
                out.write(piece.replace("\r\n", " ").replace("\n", " ").replace("\r", " "))
                out.flush()
        out.write("\n")
        out.flush()
    return 0


def _interactive(session: _Session, name: str) -> int:
    out = sys.stdout
    print(f"chatting with '{name}': Ctrl-C stops a reply, Ctrl-D or /exit ends, /clear starts "
          "afresh", file=sys.stderr)
    while True:
        try:
            text = input("you> ")
        except (EOFError, KeyboardInterrupt):
            out.write("\n")
            return 0
        if text.strip() in EXIT_WORDS:
            return 0
        if text.strip() == "/clear":
            session.clear()
            print("(a new conversation)", file=sys.stderr)
            continue
        if not text.strip():
            continue
        out.write(f"{name}> ")
        out.flush()
        stream = session.reply(text)
        try:
            for piece in stream:
                out.write(piece)
                out.flush()
        except KeyboardInterrupt:
            stream.close()  # the part written stays in the conversation
            out.write(" [stopped]")
        out.write("\n")
        out.flush()


__all__ = ["cmd_chat"]

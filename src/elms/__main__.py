from elms.cli import app

app(prog_name="elms")

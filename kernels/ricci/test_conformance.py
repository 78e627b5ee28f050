"""Jupyter's kernel conformance suite (jupyter_kernel_test) run against the ricci kernel.

Needs Debian's Jupyter packages on /usr/bin/python3 and the kernelspec:

    npm run kernel:install -- --prefix /tmp/ricci-jupyter
    JUPYTER_PATH=/tmp/ricci-jupyter/share/jupyter /usr/bin/python3 -m unittest kernels/ricci/test_conformance.py

(test/kernel.test.ts does the same with the built `ricci kernel install`.) The suite skips what a kernel leaves unset: ricci sets
every sample but the pager one, since the kernel has no pager.
"""

import unittest

import jupyter_kernel_test

W = 'variable("W", {in: 4, out: 3})'


class RicciKernelTests(jupyter_kernel_test.KernelTests):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The kernel answers kernel_info at once and starts its TypeScript session meanwhile,
        # which takes seconds more (many on a busy machine); the suite allows each request only
        # 15 s, so a silent first cell waits for the session here, outside the tests.
        reply = cls.kc.execute_interactive("0", silent=True, store_history=False, timeout=180, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]

    kernel_name = "ricci"
    language_name = "typescript"
    file_extension = ".ts"

    code_hello_world = 'console.log("hello, world")'
    code_stderr = 'console.error("to stderr")'

    completion_samples = [
        # A preloaded ricci export, a variable of an earlier line, a member of a global.
        {"text": "toTex", "matches": {"toText"}},
        {"text": "const myLongVariableName = 1;\nmyLongVar", "matches": {"myLongVariableName"}},
        {"text": "Math.hyp", "matches": {"hypot"}},
    ]

    complete_code_samples = [
        "1 + 1",
        "const x = 2;",
        "function f() {\n  return 1;\n}",
        f"const e = {W};",
    ]
    incomplete_code_samples = [
        "function f() {",
        "const xs = [1,",
        "if (true) {\n  console.log(1);",
    ]
    invalid_code_samples = [
        "let x = 1 +* 2;",
        "}}",
        "const 1x = 3;",
    ]

    code_generate_error = 'throw new Error("expected failure")'

    # Each sample runs six more times in test_history: keep the list short.
    code_execute_result = [
        {"code": "1 + 1", "result": "2"},
        {"code": "Promise.resolve(6 * 7)", "result": "42"},
        {"code": W, "mime": "text/latex"},
        {"code": f"dot({W}, {W})", "mime": "image/svg+xml"},
    ]

    code_display_data = [
        {"code": f"display({W})", "mime": "image/svg+xml"},
        {"code": f"display({W})", "mime": "text/latex"},
        {"code": 'display({ "text/html": "<b>bold</b>" })', "mime": "text/html"},
    ]

    code_history_pattern = "1 + 1"
    supported_history_operations = ("tail", "range", "search")

    code_inspect_sample = "variable"

    code_clear_output = "clearOutput()"


if __name__ == "__main__":
    unittest.main()

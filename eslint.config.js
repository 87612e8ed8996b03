// ESLint flat config for the TensorBoard plugin's frontend: the recommended
// rules on browser ES modules (no bundler, no transpiler: what TensorBoard's
// iframe loads is the file as written). Formatting is Prettier's job.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["tensorboard_plugins/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: globals.browser,
    },
  },
  {
    // This file itself runs in Node.
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "module", globals: globals.node },
  },
];

/*
 * A category select that follows a department select (loaded as a file: the CSP forbids
 * inline script). Used by the ticket list search and reusable by any form.
 *
 * Contract:
 *   <select id="department">                          the department select; its chosen
 *     <option value="">Any</option>                   option names the department by
 *     <option value="IT" data-department-id="3">      data-department-id, or else by its
 *   </select>                                         value (a form whose values are ids)
 *   <select data-category-for="department">           the category select
 *     <option value="">Any</option>                   no data-department: always shown
 *     <option value="Other" data-department="3">      shown when department 3 is chosen
 *   </select>
 *
 * With no department chosen (empty id) every category is shown. Options of other
 * departments are hidden and disabled (disabled too, because some browsers ignore
 * "hidden" on options); an optgroup whose options are all hidden is hidden. When the
 * selected category belongs to another department, the selection is cleared: the first
 * shown option without data-department is chosen (else the first shown option).
 */
(function () {
  "use strict";

  function chosenDepartment(select) {
    var option = select.options[select.selectedIndex];
    if (!option) {
      return "";
    }
    if (option.hasAttribute("data-department-id")) {
      return option.getAttribute("data-department-id");
    }
    return option.value;
  }

  function follow(categories, departments) {
    var chosen = chosenDepartment(departments);
    var options = categories.options;
    var cleared = false;
    var i;
    for (i = 0; i < options.length; i += 1) {
      var option = options[i];
      var department = option.getAttribute("data-department");
      var shown = department === null || chosen === "" || department === chosen;
      if (option.dataset.categorySelectDisabled === undefined) {
        // Remember whether the page itself disabled the option.
        option.dataset.categorySelectDisabled = option.disabled ? "page" : "no";
      }
      option.hidden = !shown;
      option.disabled = !shown || option.dataset.categorySelectDisabled === "page";
      if (!shown && option.selected) {
        option.selected = false;
        cleared = true;
      }
    }
    var groups = categories.getElementsByTagName("optgroup");
    for (i = 0; i < groups.length; i += 1) {
      var visible = false;
      for (var j = 0; j < groups[i].children.length; j += 1) {
        if (!groups[i].children[j].hidden) {
          visible = true;
        }
      }
      groups[i].hidden = !visible;
    }
    if (cleared) {
      var fallback = null;
      for (i = 0; i < options.length; i += 1) {
        if (!options[i].hidden && !options[i].disabled) {
          if (!options[i].hasAttribute("data-department")) {
            fallback = options[i];
            break;
          }
          if (fallback === null) {
            fallback = options[i];
          }
        }
      }
      if (fallback !== null) {
        fallback.selected = true;
      } else {
        categories.selectedIndex = -1;
      }
      categories.dispatchEvent(new Event("change", { bubbles: true }));
    }
  }

  function init() {
    var selects = document.querySelectorAll("select[data-category-for]");
    Array.prototype.forEach.call(selects, function (categories) {
      var departments = document.getElementById(categories.getAttribute("data-category-for"));
      if (!departments) {
        return;
      }
      departments.addEventListener("change", function () {
        follow(categories, departments);
      });
      follow(categories, departments);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
